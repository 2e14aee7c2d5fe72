// Layout+Sessions: the Sessions pane and the overlays (help, a session's log, its execution context).

import CulvertClient
import CulvertCore

extension Layout {
    /// The state's mark: ● connected, ◐ on its way, ○ disconnected, ✖ invalid (ASCII: * ~ o x).
    static func mark(_ state: SessionState) -> String {
        switch state {
        case .connected: return "●"
        case .connecting, .reasserting, .disconnecting: return "◐"
        case .disconnected: return "○"
        case .invalid: return "✖"
        }
    }

    /// The colour class of a session's row: up, on its way, failed/invalid, or plain.
    static func style(_ session: SessionInfo) -> LineStyle {
        switch session.state {
        case .connected: return .good
        case .connecting, .reasserting, .disconnecting: return .pending
        case .invalid: return .bad
        case .disconnected: return session.failure == nil ? .normal : .bad
        }
    }

    /// What the last column says: the failure's reason code while down after one (the row is in the
    /// bad style then), else why the state is what it is.
    static func why(_ session: SessionInfo) -> String {
        if let failure = session.failure, session.state == .disconnected || session.state == .invalid || session.state == .reasserting {
            return failure.reason.rawValue
        }
        return session.reason
    }

    /// The Sessions pane's columns for this width. At 80 columns: profile 8, state (reason) 30,
    /// uptime 6, interface 6, rx and tx rates 8 each, a 6-column sparkline; wider terminals get
    /// a longer sparkline, longer names, (from 110) the byte totals and, where the state and its
    /// reason keep `stateRoom`, the first tunnel address. At 80 the addresses are in `i`.
    struct SessionColumns {
        var profile: Int
        var state: Int
        var uptime = 6
        var interface: Int
        var address = 0
        var rate = 8
        var sparkline: Int
        var total: Int
    }

    /// Room the state and its reason keep before anything optional is shown ("● connected (provider_started)").
    static let stateRoom = 30

    func sessionColumns() -> SessionColumns {
        let inner = width - 2
        let sparkline = inner >= 98 ? 12 : (inner >= 88 ? 10 : 6)
        let total = width >= 110 ? 11 : 0
        let profile = min(20, max(8, inner / 9))
        let interface = width >= 100 ? 8 : 6
        var separators = total > 0 ? 8 : 6
        var used = profile + 6 + interface + 2 * 8 + sparkline + 2 * total + separators
        // The address only where the state and its reason keep their room.
        let address = inner - used - 19 >= Self.stateRoom ? 18 : 0
        if address > 0 {
            separators += 1
            used += address + 1
        }
        return SessionColumns(
            profile: profile, state: max(8, inner - used), interface: interface, address: address, sparkline: sparkline, total: total)
    }

    /// "● connected (provider_started)": the state, and why it is what it is.
    static func stateText(_ session: SessionInfo) -> String {
        mark(session.state) + " " + session.state.rawValue + " (" + why(session) + ")"
    }

    func sessionPane(_ state: TUIState, rows: Int) -> [ScreenLine] {
        let sessions = state.visibleSessions
        var lines = [header(.sessions, state, count: count(sessions.count, of: state.sessions.count))]
        let body = rows - 1
        let columns = sessionColumns()
        if state.sessions.isEmpty {
            lines.append(
                ScreenLine(text: fit("  no sessions (c connects the selected profile)", width), style: state.isStale ? .dim : .normal))
        } else if sessions.isEmpty {
            lines.append(ScreenLine(text: fit("  no session matches \"\(state.filter)\"", width), style: .dim))
        }
        for index in window(count: sessions.count, selected: state.selectedSession, rows: body) {
            let session = sessions[index]
            let traffic = state.traffic[session.profile]
            let rate = traffic?.current(at: state.wallClock)
            var values: [(String, Int)] = [(session.profile, columns.profile)]
            if traffic == nil && !session.state.isActive {
                // No provider, so no uptime, interface or traffic: the state and its reason get their room.
                let room =
                    columns.state + columns.uptime + columns.interface + 2 * columns.rate + columns.sparkline + 5
                    + (columns.address > 0 ? columns.address + 1 : 0)
                values.append((Self.stateText(session), room))
            } else {
                values += [
                    (Self.stateText(session), columns.state),
                    (state.uptime(of: session).map(SessionTraffic.uptime) ?? "-", columns.uptime),
                    (session.interface ?? "-", columns.interface),
                ]
                if columns.address > 0 {
                    let first = session.addresses.first ?? "-"
                    values.append((session.addresses.count > 1 ? first + " +\(session.addresses.count - 1)" : first, columns.address))
                }
                values += [
                    ("↓" + (rate.map { SessionTraffic.rate($0.rx) } ?? "-"), columns.rate),
                    ("↑" + (rate.map { SessionTraffic.rate($0.tx) } ?? "-"), columns.rate),
                    (
                        traffic.map {
                            SessionTraffic.sparkline($0.buckets(columns: columns.sparkline, at: state.wallClock), unicode: unicode)
                        } ?? "",
                        columns.sparkline
                    ),
                ]
            }
            if columns.total > 0 {
                values.append(("rx " + SessionDescription.bytes(session.counters.rxBytes), columns.total))
                values.append(("tx " + SessionDescription.bytes(session.counters.txBytes), columns.total))
            }
            var line = row(cells(values), selected: index == state.selectedSession, focused: state.focus == .sessions, stale: state.isStale)
            if line.style == .normal { line.style = Self.style(session) }
            lines.append(line)
        }
        return pad(lines, rows)
    }

    // MARK: overlays

    func overlayLines(_ overlay: Overlay, _ state: TUIState, rows: Int) -> [ScreenLine] {
        let scrollHint = unicode ? "↑/↓ scroll · any other key closes" : "Up/Down scroll - any other key closes"
        switch overlay {
        case .help:
            return framed(title: "Help", hint: "any key closes", body: Self.helpText.map { body($0) }, scroll: 0, rows: rows)
        case .log(let profile):
            let view = state.sessionLog
            var title = "Log of \(profile)"
            var content: [ScreenLine]
            if let error = view?.error {
                content = [ScreenLine(text: fit("  " + error, width), style: .notice)]
            } else if view?.loading ?? true {
                content = [body("loading…")]
            } else if let view, view.lines.isEmpty {
                content = [body("the provider logged nothing")]
            } else {
                let lines = view?.lines ?? []
                title += " (\(lines.count) lines\(view?.truncated == true ? ", older ones dropped" : ""))"
                content = lines.map { body($0) }
            }
            return framed(title: title, hint: scrollHint, body: content, scroll: state.overlayScroll, rows: rows)
        case .context(let profile):
            guard let session = state.session(of: profile) else {
                return framed(title: "Session \(profile)", hint: "any key closes", body: [body("no session")], scroll: 0, rows: rows)
            }
            let table = SessionDescription.contextRows(session, readerView: state.readOnlyReason != nil)
            let labelWidth = (table.map { $0[0].count }.max() ?? 0) + 2
            var content = table.map { body(fit($0[0], labelWidth) + $0[1]) }
            content[1].style = Self.style(session)  // the state row, coloured like the pane
            return framed(title: "Session \(profile)", hint: scrollHint, body: content, scroll: state.overlayScroll, rows: rows)
        }
    }

    private func body(_ text: String) -> ScreenLine {
        ScreenLine(text: fit("  " + text, width), style: .normal)
    }

    /// A title row, then `body` scrolled by `scroll` (clamped so the last page stays full).
    private func framed(title: String, hint: String, body: [ScreenLine], scroll: Int, rows: Int) -> [ScreenLine] {
        let visible = rows - 1
        let top = max(0, min(scroll, body.count - visible))
        var heading = "  \(title) "
        if body.count > visible { heading += "[\(top + 1)-\(min(body.count, top + visible)) of \(body.count)] " }
        let room = width - heading.count - hint.count - 1
        heading = room > 0 ? heading + String(repeating: " ", count: room) + hint + " " : heading
        var lines = [ScreenLine(text: fit(heading, width), style: .focusedHeader)]
        lines += body.dropFirst(top).prefix(visible)
        return pad(lines, rows)
    }
}
