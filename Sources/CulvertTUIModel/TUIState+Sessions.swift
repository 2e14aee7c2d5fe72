// TUIState+Sessions: sessions as the panes show them, the filter, and the session keys
// (c connect, d disconnect, l log, i execution context).

import CulvertCore

extension TUIState {
    /// Profiles whose name or extension contains the filter.
    var visibleProfiles: [Profile] {
        guard !filter.isEmpty else { return profiles }
        return profiles.filter { matches($0.name) || matches($0.extensionIdentifier) }
    }

    /// Sessions whose profile name contains the filter.
    var visibleSessions: [SessionInfo] {
        guard !filter.isEmpty else { return sessions }
        return sessions.filter { matches($0.profile) }
    }

    func session(of profile: String) -> SessionInfo? {
        sessions.first { $0.profile == profile }
    }

    private func matches(_ text: String) -> Bool {
        text.lowercased().contains(filter.lowercased())
    }

    /// Replaces the profile's session with `session` (or adds it), keeping them sorted.
    mutating func upsert(_ session: SessionInfo) {
        if let index = sessions.firstIndex(where: { $0.profile == session.profile }) {
            sessions[index] = session
        } else {
            sessions.append(session)
            sessions.sort { $0.profile < $1.profile }
        }
    }

    /// The profile the session keys act on: the selected profile, or the selected session's.
    private mutating func targetProfile(for action: String) -> String? {
        switch focus {
        case .profiles:
            if visibleProfiles.indices.contains(selectedProfile) { return visibleProfiles[selectedProfile].name }
            message = "no profile to \(action)"
        case .sessions:
            if visibleSessions.indices.contains(selectedSession) { return visibleSessions[selectedSession].profile }
            message = "no session to \(action)"
        case .extensions, .events:
            message = "select a profile first (Tab to the Profiles or Sessions pane)"
        }
        return nil
    }

    mutating func connect() -> [TUIEffect] {
        if let reason = readOnlyReason {
            message = "connect is disabled: read-only (\(reason))"
            return []
        }
        guard let profile = targetProfile(for: "connect") else { return [] }
        begin("connecting \(profile)")
        return [.connect(profile: profile)]
    }

    mutating func disconnect() -> [TUIEffect] {
        if let reason = readOnlyReason {
            message = "disconnect is disabled: read-only (\(reason))"
            return []
        }
        guard let profile = targetProfile(for: "disconnect") else { return [] }
        begin("disconnecting \(profile)")
        return [.disconnect(profile: profile)]
    }

    mutating func showLog() -> [TUIEffect] {
        guard let profile = targetProfile(for: "show the log of") else { return [] }
        guard session(of: profile) != nil else {
            message = "\(profile) has no session yet (c connects it)"
            return []
        }
        open(.log(profile: profile))
        sessionLog = SessionLogView(profile: profile)
        return [.fetchLog(profile: profile)]
    }

    mutating func showContext() {
        guard let profile = targetProfile(for: "show") else { return }
        guard session(of: profile) != nil else {
            message = "\(profile) has no session yet (c connects it)"
            return
        }
        open(.context(profile: profile))
    }
}

extension TUIState {
    /// Feeds a session's counters, stamped `time` by the daemon, to its traffic history: a new
    /// session id starts a new history, a session without a provider has none. Counters not
    /// `measured` just now (a snapshot's) only start a history, never add a rate.
    mutating func record(_ session: SessionInfo, at time: String, measured: Bool) {
        guard session.state == .connected || session.state == .reasserting else {
            traffic[session.profile] = nil
            return
        }
        var history = traffic[session.profile] ?? SessionTraffic(sessionID: session.id)
        if history.sessionID != session.id { history = SessionTraffic(sessionID: session.id) }
        if let seconds = SessionTraffic.seconds(rfc3339: time), measured || !history.hasBaseline {
            history.record(session.counters, at: seconds)
        }
        traffic[session.profile] = history
    }

    /// Seconds the session has been connected, by the wall clock; nil while not connected.
    func uptime(of session: SessionInfo) -> Double? {
        guard session.state == .connected || session.state == .reasserting, let since = session.connectedAt,
            let start = SessionTraffic.seconds(rfc3339: since)
        else { return nil }
        return max(0, wallClock - start)
    }
}
