// How `culvertctl watch` shows each WatchUpdate: one readable line, or one JSON object.

import CulvertClient
import CulvertCore

extension Output {
    /// Prints `update`; `position` is the seq of the last event printed before it (or the --since
    /// the watch started from), where a `.resumed(.replayed)` picks up.
    func print(_ update: WatchUpdate, after position: Int64?) {
        if json {
            json(WatchLine(update, after: position))
        } else {
            line(Self.text(update, after: position))
        }
    }

    /// Connection trouble reads as what watch does about it, never as an error.
    static func text(_ update: WatchUpdate, after position: Int64?) -> String {
        switch update {
        case .event(let event): return text(event)
        case .interrupted(let cause): return "interrupted: \(cause), reconnecting…"
        case .resumed(.replayed(let count)):
            return "resumed" + (position.map { " at seq \($0)" } ?? "") + (count > 0 ? ", replaying \(count) missed" : "")
        case .resumed(.snapshot(let reason)): return "resynced from a snapshot (\(reason))"
        case .invalidated(let cause, _): return "invalidated: \(cause)"
        }
    }

    /// `seq 7  profile_saved  demo  (created, by uid 0 pid 1234 culvertctl)`
    static func text(_ event: Event) -> String {
        var parts = ["seq \(event.seq)", event.kind.rawValue]
        var details: [String] = []
        switch event.kind {
        case .snapshot:
            let profiles = event.status?.profiles.count ?? 0
            parts.append("\(profiles) profile\(profiles == 1 ? "" : "s")")
            if let extensions = event.status?.extensions.count, extensions > 0 {
                parts.append("\(extensions) extension\(extensions == 1 ? "" : "s")")
            }
            if let sessions = event.status?.sessions.count, sessions > 0 {
                parts.append("\(sessions) session\(sessions == 1 ? "" : "s")")
            }
            details.append("epoch \(event.epoch)")
            if let problems = event.status?.problems.count, problems > 0 { details.append("\(problems) problems") }
        case .daemonStarted:
            if let daemon = event.daemon {
                parts.append("culvertd \(daemon.version)")
                details.append("pid \(daemon.pid), epoch \(daemon.epoch)")
            }
        case .daemonGoingAway:
            // `seq 8  daemon_going_away  culvertd going away (reexec), by uid 0 pid 1234 culvertctl`
            parts.append("culvertd going away (\(event.reason ?? "unspecified"))" + (event.actor.map { ", " + text($0) } ?? ""))
            return parts.joined(separator: "  ")
        case .daemonBack:
            // `seq 9  daemon_back  culvertd back: 0.1.0 → 0.2.0 (pid 812), epoch unchanged`
            if let daemon = event.daemon {
                let epoch = daemon.epoch == event.epoch ? "epoch unchanged" : "epoch \(daemon.epoch)"
                parts.append("culvertd back: \(event.previousVersion ?? "?") → \(daemon.version) (pid \(daemon.pid)), \(epoch)")
            } else {
                parts.append("culvertd back")
            }
            if let reason = event.reason, reason != "reexec" { details.append(reason) }
        case .extensionInstalled, .extensionReplaced, .extensionApproved, .extensionUninstalled:
            if let info = event.extensionInfo {
                parts.append("\(info.identifier) \(info.versionDescription)")
                details.append(info.state.rawValue)
                if let previous = event.previousVersion { details.append("was \(previous)") }
            }
        case .upgradePending, .upgradeCancelled, .upgradePolicyChanged:
            if let info = event.extensionInfo {
                parts.append("\(info.identifier) \(info.versionDescription)")
                if let staged = info.staged { parts.append("staged \(staged.versionDescription)") }
                if event.kind == .upgradeCancelled, let dropped = event.previousVersion { details.append("dropped \(dropped)") }
                details.append("policy \(info.effectiveUpgradePolicy?.rawValue ?? "?")")
            }
            if let reason = event.reason, event.kind == .upgradeCancelled { details.append(reason) }
        case .extensionInstallFailed:
            if let error = event.error { details.append(error) }
        case .garbageCollected:
            parts.append("\(event.removals?.count ?? 0) removed")
        case .sessionState:
            if let session = event.session {
                parts.append(session.profile)
                parts.append((event.previousState.map { "\($0.rawValue) -> " } ?? "") + session.state.rawValue)
                details.append(event.reason ?? session.reason)
                if session.state == .connected, let interface = session.interface {
                    details.append(([interface] + session.addresses).joined(separator: " "))
                }
                if let pid = session.pid, session.state.isActive { details.append("pid \(pid)") }
                if let failure = session.failure,
                    session.state == .disconnected || session.state == .invalid || session.state == .reasserting
                {
                    details.append("failed: " + SessionDescription.failure(failure))
                }
            }
        case .sessionStats:
            if let session = event.session {
                let counters = session.counters
                parts.append(session.profile)
                let packets = { (count: Int64) in "\(count) packet\(count == 1 ? "" : "s")" }
                parts.append("rx \(SessionDescription.bytes(counters.rxBytes)) (\(packets(counters.rxPackets)))")
                parts.append("tx \(SessionDescription.bytes(counters.txBytes)) (\(packets(counters.txPackets)))")
            }
        case .handoverStarted, .handoverCompleted, .upgradeFailed:
            if let session = event.session { parts.append(session.profile) }
            parts.append("\(event.previousVersion ?? "?") → \(event.extensionInfo?.versionDescription ?? "?")")
            if let reason = event.reason { details.append(reason) }
            if let text = event.error { details.append(text) }
            if let pid = event.session?.pid { details.append("pid \(pid)") }
        case .sessionNetworkChanged:
            if let session = event.session { parts.append(session.profile) }
            parts.append(event.reason ?? "changed")
            if let text = event.error { details.append(text + ", not by culvertd") }
        default:
            if let name = event.profile?.name ?? event.name { parts.append(name) }
            if let created = event.created { details.append(created ? "created" : "replaced") }
        }
        if let actor = event.actor { details.append(text(actor)) }
        var line = parts.joined(separator: "  ")
        if !details.isEmpty { line += "  (" + details.joined(separator: ", ") + ")" }
        return line
    }

    /// `by uid 0 pid 1234 culvertctl`
    static func text(_ actor: Actor) -> String {
        "by uid \(actor.uid) pid \(actor.pid)" + (actor.command.map { " \($0)" } ?? "")
    }
}

/// The JSON form of one update: `{"type": "event" | "interrupted" | "resumed" | "invalidated", …}`.
struct WatchLine: Encodable {
    var type: String
    var event: Event?
    /// interrupted / invalidated: a stable name of the cause.
    var cause: String?
    /// resumed: "replayed" or "snapshot".
    var how: String?
    var count: Int64?
    /// resumed by replay: the seq it picked up after.
    var seq: Int64?
    var reason: String?
    var description: String?
    var hint: String?

    init(_ update: WatchUpdate, after position: Int64?) {
        switch update {
        case .event(let event):
            type = "event"
            self.event = event
        case .interrupted(let interruption):
            type = "interrupted"
            cause = Self.name(interruption)
            description = interruption.description
        case .resumed(.replayed(let count)):
            type = "resumed"
            how = "replayed"
            self.count = count
            seq = position
        case .resumed(.snapshot(let reason)):
            type = "resumed"
            how = "snapshot"
            self.reason = reason.rawValue
        case .invalidated(let invalidation, let hint):
            type = "invalidated"
            cause = Self.name(invalidation)
            description = invalidation.description
            self.hint = hint
        }
    }

    static func name(_ interruption: WatchInterruption) -> String {
        switch interruption {
        case .daemonUnreachable: return "daemon_unreachable"
        case .connectionClosed: return "connection_closed"
        case .droppedAsTooSlow: return "subscriber_too_slow"
        case .timedOut: return "timed_out"
        case .protocolViolation: return "protocol_violation"
        case .remote: return "remote_error"
        }
    }

    static func name(_ invalidation: WatchInvalidation) -> String {
        switch invalidation {
        case .permissionDenied: return "permission_denied"
        case .interfaceNotImplemented: return "not_culvertd"
        case .protocolViolations: return "protocol_violations"
        }
    }
}
