// TUIState: everything the screen shows, as a value, and the reducer that changes it.
// No terminal here: the renderer draws a state, the main loop feeds messages in and runs the
// effects that come out. Keys: TUIState+Keys.swift; sessions and overlays: TUIState+Sessions.swift.

import CulvertClient
import CulvertCore

/// The panes, in Tab order (and top to bottom on screen).
package enum Pane: Int, CaseIterable, Sendable {
    case profiles, extensions, sessions, events
    var title: String {
        switch self {
        case .profiles: return "Profiles"
        case .extensions: return "Extensions"
        case .sessions: return "Sessions"
        case .events: return "Events"
        }
    }
}

/// What the status channel is doing, as the status line says it.
package enum ChannelState: Equatable, Sendable {
    /// Started, no snapshot yet.
    case connecting
    case live
    /// Interrupted: data on screen may be stale.
    case reconnecting(cause: String)
    /// Resynced from a snapshot after the daemon restarted; shown until `until`, then live.
    case resynced(until: Double)
    /// culvertd announced a re-exec (daemon_going_away); the channel stays open until daemon_back.
    case goingAway(reason: String)
    /// The stream ended for good.
    case invalidated(cause: String, hint: String)
}

/// A key as the terminal read it. What a character means (a command, or text for the filter)
/// is the reducer's decision.
package enum TUIKey: Equatable, Sendable {
    case up, down, pageUp, pageDown, home, end, tab, backTab, escape, enter, backspace
    case resize
    /// A printable character.
    case character(Character)
    case other
}

/// Something the main loop must do for the reducer.
package enum TUIEffect: Equatable, Sendable {
    case approve(identifier: String)
    case removeProfile(name: String)
    case connect(profile: String)
    case disconnect(profile: String)
    /// Fetch the profile's session log (GetSessionLog); the answer comes back as `.logLoaded`/`.logFailed`.
    case fetchLog(profile: String)
    case quit
}

/// One input to the reducer.
package enum TUIMessage: Sendable {
    case watch(WatchUpdate)
    case key(TUIKey)
    /// The result of an effect: a line for the status bar; `denied` names the refused action.
    case actionFinished(text: String, denied: String?)
    /// A connect or disconnect answered: `text` for the status bar, `session` as the answer had it.
    /// The text goes once the profile's session leaves that state (it would be out of date).
    case sessionActionFinished(text: String, session: SessionInfo)
    /// The answer to `.fetchLog`.
    case logLoaded(profile: String, log: SessionLog)
    /// `.fetchLog` failed; `text` says why.
    case logFailed(profile: String, text: String)
    /// The clocks: `monotonic` seconds since any fixed origin, `wall` seconds since 1970 (for
    /// uptimes and traffic rates, which the daemon stamps in wall time).
    case tick(monotonic: Double, wall: Double)
    /// SIGINT / SIGTERM.
    case terminate
}

/// A full-screen view over the panes; any key but scrolling closes it (q still quits).
package enum Overlay: Equatable, Sendable {
    case help
    /// The provider's log of a profile's session, as last fetched (`TUIState.sessionLog`).
    case log(profile: String)
    /// A session's execution context, live from the state (like `culvertctl session show`).
    case context(profile: String)
}

/// The session log the log overlay shows.
package struct SessionLogView: Equatable, Sendable {
    package var profile: String
    package var lines: [String] = []
    package var truncated = false
    /// The fetch has not answered yet.
    package var loading = true
    /// Why the fetch failed, if it did.
    package var error: String?
}

/// An action sent to culvertd and not answered yet.
package struct PendingAction: Equatable, Sendable {
    /// What is happening, without the ellipsis: "connecting lab".
    var text: String
    /// `TUIState.now` when it started.
    var since: Double
}

/// A connect or disconnect result on the message line ("lab is connected on cvt0"), true while
/// the profile's session stays in `state`.
package struct SessionResult: Equatable, Sendable {
    var text: String
    var profile: String
    var state: SessionState
}

package struct TUIState: Equatable, Sendable {
    /// How long "resynced after crash" stays up before the line says live again.
    static let resyncedDisplaySeconds = 3.0
    static let maximumLogLines = 1000
    /// Bound on the filter text; longer input is ignored.
    static let maximumFilterLength = 64

    var channel: ChannelState = .connecting
    var seq: Int64?
    var epoch: String?
    var daemon: DaemonInfo?
    var developerMode = false
    var profiles: [Profile] = []
    var extensions: [ExtensionInfo] = []
    /// One per profile that has had a session since the daemon started, sorted by profile.
    var sessions: [SessionInfo] = []
    /// Event log lines, oldest first.
    var log: [String] = []
    /// Lines scrolled up from the newest; 0 follows the tail.
    var logScroll = 0
    var focus: Pane = .profiles
    /// Indexes into `visibleProfiles`, `extensions` and `visibleSessions`.
    var selectedProfile = 0
    var selectedExtension = 0
    var selectedSession = 0
    /// Profiles and sessions shown are those whose name contains this (case-insensitive).
    var filter = ""
    /// `/` was pressed: characters go to `filter` until Enter or Esc.
    var editingFilter = false
    /// The result of the last action, or a notice.
    var message = ""
    /// Set when actions are disabled, saying why.
    var readOnlyReason: String?
    /// A profile removal waiting for y/n.
    var confirmingRemoval: String?
    var overlay: Overlay?
    /// Rows scrolled down in the overlay.
    var overlayScroll = 0
    var sessionLog: SessionLogView?
    /// `tick`'s monotonic clock.
    var now = 0.0
    /// `tick`'s wall clock, seconds since 1970.
    var wallClock = 0.0
    /// Rates of each profile's session, from its session_stats counters.
    var traffic: [String: SessionTraffic] = [:]
    /// Set while the message is a session action's result.
    var sessionResult: SessionResult?
    /// The action waiting for its answer, with when it started (monotonic): the message line counts the seconds.
    var pending: PendingAction?
    /// The stream said the next snapshot resyncs after a daemon restart.
    var expectingResyncSnapshot = false
    package var quitting = false

    package init(readOnlyReason: String? = nil) { self.readOnlyReason = readOnlyReason }

    var showingHelp: Bool { overlay == .help }

    /// True while what is on screen may not be the daemon's current state.
    var isStale: Bool {
        switch channel {
        case .live, .resynced, .goingAway: return false
        case .connecting, .reconnecting, .invalidated: return true
        }
    }

    /// The status line's channel text.
    var channelText: String {
        let position = seq.map { " · seq \($0)" } ?? ""
        switch channel {
        case .connecting: return "connecting…"
        case .live: return "live" + position
        case .reconnecting: return "reconnecting…"
        case .resynced: return "resynced after crash" + position
        case .goingAway(let reason): return "daemon going away (\(reason == "reexec" ? "re-exec" : reason))" + position
        case .invalidated(let cause, _): return "stopped: " + cause
        }
    }

    // MARK: reducer

    /// Applies one message; returns what the main loop must do.
    package mutating func reduce(_ message: TUIMessage) -> [TUIEffect] {
        switch message {
        case .watch(let update):
            apply(update)
            return []
        case .key(let key):
            return handle(key)
        case .actionFinished(let text, let denied):
            self.message = text
            pending = nil
            if let denied { readOnlyReason = "culvertd denied \(denied)" }
            return []
        case .sessionActionFinished(let text, let session):
            self.message = text
            pending = nil
            sessionResult = SessionResult(text: text, profile: session.profile, state: session.state)
            return []
        case .logLoaded(let profile, let log):
            guard sessionLog?.profile == profile else { return [] }  // an answer for an overlay since closed
            sessionLog = SessionLogView(profile: profile, lines: log.lines, truncated: log.truncated, loading: false)
            return []
        case .logFailed(let profile, let text):
            guard sessionLog?.profile == profile else { return [] }
            sessionLog = SessionLogView(profile: profile, loading: false, error: text)
            return []
        case .tick(let time, let wall):
            now = time
            wallClock = wall
            if case .resynced(let until) = channel, time >= until { channel = .live }
            return []
        case .terminate:
            quitting = true
            return [.quit]
        }
    }

    /// Starts showing `text` (with the seconds it takes) until the action's `.actionFinished`.
    mutating func begin(_ text: String) {
        message = text + "…"
        pending = PendingAction(text: text, since: now)
    }

    /// A pure function form of `reduce`, for tests.
    func reduced(_ messages: [TUIMessage]) -> TUIState {
        var copy = self
        for message in messages { _ = copy.reduce(message) }
        return copy
    }

    private mutating func apply(_ update: WatchUpdate) {
        switch update {
        case .event(let event):
            apply(event)
        case .interrupted(let cause):
            channel = .reconnecting(cause: cause.description)
            message = ""  // the message line says why the data is stale instead
            appendLog("-- interrupted: \(cause)")
        case .resumed(.replayed(let count)):
            channel = .live
            appendLog("-- resumed, replayed \(count)")
        case .resumed(.snapshot(let reason)):
            expectingResyncSnapshot = reason == .otherEpoch
            appendLog("-- resyncing from a snapshot (\(reason))")
        case .invalidated(let cause, let hint):
            channel = .invalidated(cause: cause.description, hint: hint)
            if case .permissionDenied(let action) = cause {
                readOnlyReason = "culvertd denied \(action)"
            }
            message = "\(cause): \(hint)"
            appendLog("-- stopped: \(cause)")
        }
    }

    private mutating func apply(_ event: Event) {
        seq = event.seq
        epoch = event.epoch
        switch event.kind {
        case .snapshot:
            if let status = event.status {
                daemon = status.daemon
                developerMode = status.developerMode
                profiles = status.profiles.sorted { $0.name < $1.name }
                extensions = status.extensions.sorted { $0.identifier < $1.identifier }
                sessions = status.sessions.sorted { $0.profile < $1.profile }
                traffic = traffic.filter { profile, _ in sessions.contains { $0.profile == profile } }
                for session in sessions { record(session, at: event.time, measured: false) }
            }
            if expectingResyncSnapshot {
                channel = .resynced(until: now + Self.resyncedDisplaySeconds)
                expectingResyncSnapshot = false
            } else {
                channel = .live
            }
        case .daemonStarted:
            if let info = event.daemon { daemon = info }
        case .daemonGoingAway:
            channel = .goingAway(reason: event.reason ?? "re-exec")
        case .daemonBack:
            if let info = event.daemon {
                let previous = event.previousVersion ?? daemon?.version ?? "?"
                daemon = info
                message = "culvertd re-executed: \(previous) → \(info.version) (pid \(info.pid)), epoch unchanged"
            }
            channel = .live
        case .profileSaved:
            if let profile = event.profile {
                profiles.removeAll { $0.name == profile.name }
                profiles.append(profile)
                profiles.sort { $0.name < $1.name }
            }
        case .profileRemoved:
            if let name = event.name ?? event.profile?.name { profiles.removeAll { $0.name == name } }
        case .extensionInstalled, .extensionReplaced, .extensionApproved, .upgradePending, .upgradeCancelled, .upgradePolicyChanged:
            if let info = event.extensionInfo {
                extensions.removeAll { $0.identifier == info.identifier }
                extensions.append(info)
                extensions.sort { $0.identifier < $1.identifier }
            }
        case .extensionUninstalled:
            if let info = event.extensionInfo { extensions.removeAll { $0.identifier == info.identifier } }
        case .sessionState, .sessionStats:
            if let session = event.session {
                if let shown = sessionResult, shown.profile == session.profile, shown.state != session.state {
                    // "lab is connected" is no longer true: the Sessions pane says what is.
                    if message == shown.text { message = "" }
                    sessionResult = nil
                }
                upsert(session)
                // A state change repeats the counters of the last session_stats: no new measurement.
                record(session, at: event.time, measured: event.kind == .sessionStats)
            }
        default:
            break  // kinds this TUI does not know are logged and otherwise ignored
        }
        if event.kind != .snapshot {
            switch channel {
            case .resynced: break  // stays up for its few seconds
            case .goingAway where event.kind == .daemonGoingAway: break
            default: channel = .live
            }
        }
        // Counters arrive every few seconds per session: they update the Sessions pane, not the log.
        if event.kind != .sessionStats { appendLog(Self.describe(event)) }
        clampSelections()
    }

    private mutating func appendLog(_ line: String) {
        log.append(line)
        if log.count > Self.maximumLogLines { log.removeFirst(log.count - Self.maximumLogLines) }
        if logScroll > 0 { logScroll = min(logScroll + 1, log.count - 1) }  // keep the view still while scrolled up
    }

    mutating func clampSelections() {
        selectedProfile = max(0, min(selectedProfile, visibleProfiles.count - 1))
        selectedExtension = max(0, min(selectedExtension, extensions.count - 1))
        selectedSession = max(0, min(selectedSession, visibleSessions.count - 1))
    }

    // MARK: text

    /// One event as a log line: `12:00:01 #7 profile_saved demo (uid 0)`.
    static func describe(_ event: Event) -> String {
        let time = event.time.count >= 19 ? String(Array(event.time)[11..<19]) : event.time
        var parts = [time, "#\(event.seq)", event.kind.rawValue]
        switch event.kind {
        case .snapshot:
            let status = event.status
            var counts = "\(status?.profiles.count ?? 0) profiles, \(status?.extensions.count ?? 0) extensions"
            if let sessions = status?.sessions.count, sessions > 0 { counts += ", \(sessions) sessions" }
            parts.append(counts)
        case .daemonStarted, .daemonBack:
            if let daemon = event.daemon { parts.append("culvertd \(daemon.version) pid \(daemon.pid)") }
        case .daemonGoingAway:
            if let reason = event.reason { parts.append(reason) }
        case .extensionInstalled, .extensionReplaced, .extensionApproved, .extensionUninstalled, .upgradePending, .upgradeCancelled,
            .upgradePolicyChanged:
            if let info = event.extensionInfo { parts.append("\(info.identifier) \(info.versionDescription) \(info.state.rawValue)") }
            if let staged = event.extensionInfo?.staged { parts.append("staged \(staged.versionDescription)") }
        case .extensionInstallFailed:
            if let error = event.error { parts.append(error) }
        case .garbageCollected:
            parts.append("\(event.removals?.count ?? 0) removed")
        case .sessionState:
            if let session = event.session {
                let from = event.previousState.map { "\($0.rawValue)→" } ?? ""
                parts.append("\(session.profile) \(from)\(session.state.rawValue) (\(event.reason ?? session.reason))")
            }
        default:
            if let name = event.profile?.name ?? event.name { parts.append(name) }
        }
        if let actor = event.actor { parts.append("(uid \(actor.uid))") }
        return parts.joined(separator: " ")
    }
}
