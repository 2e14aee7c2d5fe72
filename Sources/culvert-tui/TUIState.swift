// TUIState: everything the screen shows, as a value, and the reducer that changes it.
// No terminal here: the renderer draws a state, the main loop feeds messages in and runs the
// effects that come out.

import CulvertClient
import CulvertCore

/// The panes, in Tab order.
enum Pane: Int, CaseIterable, Sendable {
    case profiles, extensions, events
    var title: String {
        switch self {
        case .profiles: return "Profiles"
        case .extensions: return "Extensions"
        case .events: return "Events"
        }
    }
}

/// What the status channel is doing, as the status line says it.
enum ChannelState: Equatable, Sendable {
    /// Started, no snapshot yet.
    case connecting
    case live
    /// Interrupted: data on screen may be stale.
    case reconnecting(cause: String)
    /// Resynced from a snapshot after the daemon restarted; shown until `until`, then live.
    case resynced(until: Double)
    /// The stream ended for good.
    case invalidated(cause: String, hint: String)
}

/// A key, as the reducer understands it.
enum TUIKey: Equatable, Sendable {
    case up, down, pageUp, pageDown, home, end, tab, backTab
    case approve, remove, yes, no, help, quit, escape
    case resize
    case other
}

/// Something the main loop must do for the reducer.
enum TUIEffect: Equatable, Sendable {
    case approve(identifier: String)
    case removeProfile(name: String)
    case quit
}

/// One input to the reducer.
enum TUIMessage: Sendable {
    case watch(WatchUpdate)
    case key(TUIKey)
    /// The result of an effect: a line for the status bar; `denied` names the refused action.
    case actionFinished(text: String, denied: String?)
    /// The clock, in seconds since any fixed origin.
    case tick(Double)
    /// SIGINT / SIGTERM.
    case terminate
}

struct TUIState: Equatable, Sendable {
    /// How long "resynced after crash" stays up before the line says live again.
    static let resyncedDisplaySeconds = 3.0
    static let maximumLogLines = 1000

    var channel: ChannelState = .connecting
    var seq: Int64?
    var epoch: String?
    var daemon: DaemonInfo?
    var developerMode = false
    var profiles: [Profile] = []
    var extensions: [ExtensionInfo] = []
    /// Event log lines, oldest first.
    var log: [String] = []
    /// Lines scrolled up from the newest; 0 follows the tail.
    var logScroll = 0
    var focus: Pane = .profiles
    var selectedProfile = 0
    var selectedExtension = 0
    /// The result of the last action, or a notice.
    var message = ""
    /// Set when actions are disabled, saying why.
    var readOnlyReason: String?
    /// A profile removal waiting for y/n.
    var confirmingRemoval: String?
    var showingHelp = false
    var now = 0.0
    /// The stream said the next snapshot resyncs after a daemon restart.
    var expectingResyncSnapshot = false
    var quitting = false

    init(readOnlyReason: String? = nil) { self.readOnlyReason = readOnlyReason }

    /// True while what is on screen may not be the daemon's current state.
    var isStale: Bool {
        switch channel {
        case .live, .resynced: return false
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
        case .invalidated(let cause, _): return "stopped: " + cause
        }
    }

    // MARK: reducer

    /// Applies one message; returns what the main loop must do.
    mutating func reduce(_ message: TUIMessage) -> [TUIEffect] {
        switch message {
        case .watch(let update):
            apply(update)
            return []
        case .key(let key):
            return handle(key)
        case .actionFinished(let text, let denied):
            self.message = text
            if let denied { readOnlyReason = "culvertd denied \(denied)" }
            return []
        case .tick(let time):
            now = time
            if case .resynced(let until) = channel, time >= until { channel = .live }
            return []
        case .terminate:
            quitting = true
            return [.quit]
        }
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
            }
            if expectingResyncSnapshot {
                channel = .resynced(until: now + Self.resyncedDisplaySeconds)
                expectingResyncSnapshot = false
            } else {
                channel = .live
            }
        case .daemonStarted:
            if let info = event.daemon { daemon = info }
        case .profileSaved:
            if let profile = event.profile {
                profiles.removeAll { $0.name == profile.name }
                profiles.append(profile)
                profiles.sort { $0.name < $1.name }
            }
        case .profileRemoved:
            if let name = event.name ?? event.profile?.name { profiles.removeAll { $0.name == name } }
        case .extensionInstalled, .extensionReplaced, .extensionApproved:
            if let info = event.extensionInfo {
                extensions.removeAll { $0.identifier == info.identifier }
                extensions.append(info)
                extensions.sort { $0.identifier < $1.identifier }
            }
        case .extensionUninstalled:
            if let info = event.extensionInfo { extensions.removeAll { $0.identifier == info.identifier } }
        default:
            break  // kinds this TUI does not know are logged and otherwise ignored
        }
        if event.kind != .snapshot {
            switch channel {
            case .resynced: break  // stays up for its few seconds
            default: channel = .live
            }
        }
        appendLog(Self.describe(event))
        clampSelections()
    }

    private mutating func appendLog(_ line: String) {
        log.append(line)
        if log.count > Self.maximumLogLines { log.removeFirst(log.count - Self.maximumLogLines) }
        if logScroll > 0 { logScroll = min(logScroll + 1, log.count - 1) }  // keep the view still while scrolled up
    }

    private mutating func clampSelections() {
        selectedProfile = max(0, min(selectedProfile, profiles.count - 1))
        selectedExtension = max(0, min(selectedExtension, extensions.count - 1))
    }

    private mutating func handle(_ key: TUIKey) -> [TUIEffect] {
        if let name = confirmingRemoval {
            confirmingRemoval = nil
            if key == .yes {
                message = "removing profile \(name)…"
                return [.removeProfile(name: name)]
            }
            message = "kept profile \(name)"
            return []
        }
        if showingHelp {
            if key == .quit {
                quitting = true
                return [.quit]
            }
            showingHelp = false
            return []
        }
        switch key {
        case .quit:
            quitting = true
            return [.quit]
        case .help:
            showingHelp = true
        case .tab:
            focus = Pane(rawValue: (focus.rawValue + 1) % Pane.allCases.count)!
        case .backTab:
            focus = Pane(rawValue: (focus.rawValue + Pane.allCases.count - 1) % Pane.allCases.count)!
        case .up: move(by: -1)
        case .down: move(by: 1)
        case .pageUp: move(by: -10)
        case .pageDown: move(by: 10)
        case .home: move(by: -Int(Int32.max))
        case .end: move(by: Int(Int32.max))
        case .approve:
            return approve()
        case .remove:
            return remove()
        case .escape:
            message = ""
        case .yes, .no, .resize, .other:
            break
        }
        return []
    }

    private mutating func move(by delta: Int) {
        switch focus {
        case .profiles: selectedProfile = max(0, min(selectedProfile + delta, profiles.count - 1))
        case .extensions: selectedExtension = max(0, min(selectedExtension + delta, extensions.count - 1))
        case .events: logScroll = max(0, min(logScroll - delta, max(0, log.count - 1)))
        }
    }

    private mutating func approve() -> [TUIEffect] {
        if let reason = readOnlyReason {
            message = "approve is disabled: read-only (\(reason))"
            return []
        }
        guard focus == .extensions else {
            message = "select an extension first (Tab to the Extensions pane)"
            return []
        }
        guard extensions.indices.contains(selectedExtension) else {
            message = "no extension to approve"
            return []
        }
        let info = extensions[selectedExtension]
        message = "approving \(info.identifier)…"
        return [.approve(identifier: info.identifier)]
    }

    private mutating func remove() -> [TUIEffect] {
        if let reason = readOnlyReason {
            message = "remove is disabled: read-only (\(reason))"
            return []
        }
        guard focus == .profiles else {
            message = "select a profile first (Tab to the Profiles pane)"
            return []
        }
        guard profiles.indices.contains(selectedProfile) else {
            message = "no profile to remove"
            return []
        }
        let name = profiles[selectedProfile].name
        confirmingRemoval = name
        message = "remove profile \(name)? y/n"
        return []
    }

    // MARK: text

    /// One event as a log line: `#7 profile_saved demo (by uid 0)`.
    static func describe(_ event: Event) -> String {
        let time = event.time.count >= 19 ? String(Array(event.time)[11..<19]) : event.time
        var parts = [time, "#\(event.seq)", event.kind.rawValue]
        switch event.kind {
        case .snapshot:
            let status = event.status
            parts.append("\(status?.profiles.count ?? 0) profiles, \(status?.extensions.count ?? 0) extensions")
        case .daemonStarted:
            if let daemon = event.daemon { parts.append("culvertd \(daemon.version) pid \(daemon.pid)") }
        case .extensionInstalled, .extensionReplaced, .extensionApproved, .extensionUninstalled:
            if let info = event.extensionInfo { parts.append("\(info.identifier) \(info.versionDescription) \(info.state.rawValue)") }
        case .extensionInstallFailed:
            if let error = event.error { parts.append(error) }
        case .garbageCollected:
            parts.append("\(event.removals?.count ?? 0) removed")
        default:
            if let name = event.profile?.name ?? event.name { parts.append(name) }
        }
        if let actor = event.actor { parts.append("(uid \(actor.uid))") }
        return parts.joined(separator: " ")
    }
}
