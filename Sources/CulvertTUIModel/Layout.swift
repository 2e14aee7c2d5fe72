// Layout: a TUIState as lines of exactly `width` columns, with a style each. Pure, so what the
// screen shows is decided here and the ncurses layer only copies it out.

import CulvertCore

package enum LineStyle: Equatable, Sendable {
    case normal, title, header, focusedHeader, selected, dim, status, notice
    /// A session that is up (connected).
    case good
    /// A session on its way somewhere (connecting, reasserting, disconnecting).
    case pending
    /// A session that failed or can never run (invalid).
    case bad
}

package struct ScreenLine: Equatable, Sendable {
    package var text: String
    package var style: LineStyle
}

package struct Layout {
    static let minimumWidth = 40
    static let minimumHeight = 12

    var width: Int
    var height: Int
    /// UTF-8 terminal: "…" and "·"; else "..." and "-".
    var unicode: Bool

    package init(width: Int, height: Int, unicode: Bool) {
        self.width = width
        self.height = height
        self.unicode = unicode
    }

    var ellipsis: String { unicode ? "…" : "..." }

    /// `text` cut or padded to exactly `width` columns; a cut ends in an ellipsis.
    func fit(_ text: String, _ width: Int) -> String {
        guard width > 0 else { return "" }
        var text = unicode ? text : Self.ascii(text)
        // Every line of the screen passes here: provider text can carry no terminal control.
        text = String(text.map { $0.isNewline || $0 == "\t" ? " " : $0 }).controlCharactersEscaped
        if text.count <= width { return text + String(repeating: " ", count: width - text.count) }
        let mark = width >= ellipsis.count + 1 ? ellipsis : ""
        return String(text.prefix(width - mark.count)) + mark
    }

    /// Replaces what an ASCII terminal cannot show.
    static func ascii(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "…": out += "..."
            case "·", "│": out += "-"
            case "→": out += "->"
            case "↓": out += "v"
            case "↑": out += "^"
            case "●": out += "*"
            case "◐": out += "~"
            case "○": out += "o"
            case "✖": out += "x"
            default: out += scalar.isASCII ? String(scalar) : "?"
            }
        }
        return out
    }

    package func lines(for state: TUIState) -> [ScreenLine] {
        guard width >= Self.minimumWidth, height >= Self.minimumHeight else {
            var lines = [ScreenLine(text: fit("culvert-tui: terminal too small (\(width)x\(height))", width), style: .notice)]
            lines.append(ScreenLine(text: fit("need \(Self.minimumWidth)x\(Self.minimumHeight); q quits", width), style: .normal))
            while lines.count < height { lines.append(ScreenLine(text: fit("", width), style: .normal)) }
            return Array(lines.prefix(height))
        }
        var lines = [titleLine(state)]
        let middle = height - 3
        if let overlay = state.overlay {
            lines += overlayLines(overlay, state, rows: middle)
        } else {
            // Three list panes and the event log; on a small terminal the lists shrink so the log keeps two rows.
            var listRows = max(3, middle / 5)
            if middle - 3 * listRows < 3 { listRows = max(2, (middle - 3) / 3) }
            let eventRows = middle - 3 * listRows
            lines += profilePane(state, rows: listRows)
            lines += extensionPane(state, rows: listRows)
            lines += sessionPane(state, rows: listRows)
            lines += eventPane(state, rows: eventRows)
        }
        lines.append(messageLine(state))
        lines.append(statusLine(state))
        return lines
    }

    private func titleLine(_ state: TUIState) -> ScreenLine {
        let dot = unicode ? " · " : " - "
        var text = "culvert-tui"
        if let daemon = state.daemon {
            text += dot + "culvertd \(daemon.version) pid \(daemon.pid)" + dot + "epoch \(daemon.epoch.prefix(8))"
        }
        if state.developerMode { text += dot + "developer mode" }
        if state.readOnlyReason != nil { text += dot + "READ-ONLY" }
        return ScreenLine(text: fit(text, width), style: .title)
    }

    func header(_ pane: Pane, _ state: TUIState, count: String) -> ScreenLine {
        var text = "\(pane.title) (\(count))"
        if state.isStale { text += " [stale]" }
        let focused = state.focus == pane && !state.isStale
        let rule = unicode ? "─" : "-"
        let marked = (state.focus == pane ? "▶ " : "  ")
        let prefix = unicode ? marked : (state.focus == pane ? "> " : "  ")
        text = prefix + text + " "
        let fill = max(0, width - text.count)
        return ScreenLine(text: fit(text + String(repeating: rule, count: fill), width), style: focused ? .focusedHeader : .header)
    }

    /// The visible window of a list of `count` rows with `selected` kept in view.
    func window(count: Int, selected: Int, rows: Int) -> Range<Int> {
        let top = max(0, min(selected - rows + 1, count - rows))
        return top..<min(count, top + rows)
    }

    func row(_ text: String, selected: Bool, focused: Bool, stale: Bool) -> ScreenLine {
        let marker = selected ? (unicode ? "› " : "> ") : "  "
        let style: LineStyle = stale ? .dim : (selected && focused ? .selected : .normal)
        return ScreenLine(text: fit(marker + text, width), style: style)
    }

    func cells(_ values: [(String, Int)]) -> String {
        values.map { fit($0.0, $0.1) }.joined(separator: " ")
    }

    /// "3", or "1 of 3" while a filter hides some.
    func count(_ shown: Int, of total: Int) -> String {
        shown == total ? "\(total)" : "\(shown) of \(total)"
    }

    private func profilePane(_ state: TUIState, rows: Int) -> [ScreenLine] {
        let profiles = state.visibleProfiles
        var lines = [header(.profiles, state, count: count(profiles.count, of: state.profiles.count))]
        let body = rows - 1
        let nameWidth = min(24, (width - 2) / 3)
        let extensionWidth = min(32, (width - 2) / 3)
        let restWidth = width - 2 - nameWidth - extensionWidth - 2
        if state.profiles.isEmpty {
            lines.append(ScreenLine(text: fit("  no profiles (culvertctl profile add …)", width), style: state.isStale ? .dim : .normal))
        } else if profiles.isEmpty {
            lines.append(ScreenLine(text: fit("  no profile matches \"\(state.filter)\"", width), style: .dim))
        }
        for index in window(count: profiles.count, selected: state.selectedProfile, rows: body) {
            let profile = profiles[index]
            var flags: [String] = []
            if profile.alwaysOn { flags.append("always-on") }
            if profile.killSwitch {
                flags.append(profile.killSwitchAllow.isEmpty ? "kill-switch" : "kill-switch (allow \(profile.killSwitchAllow.count))")
            }
            flags.append("\(profile.options.count) option\(profile.options.count == 1 ? "" : "s")")
            if !profile.secretNames.isEmpty { flags.append("secrets: " + profile.secretNames.joined(separator: ",")) }
            let text = cells([
                (profile.name, nameWidth), (profile.extensionIdentifier, extensionWidth), (flags.joined(separator: ", "), restWidth),
            ])
            lines.append(
                row(text, selected: index == state.selectedProfile, focused: state.focus == .profiles, stale: state.isStale))
        }
        return pad(lines, rows)
    }

    private func extensionPane(_ state: TUIState, rows: Int) -> [ScreenLine] {
        var lines = [header(.extensions, state, count: "\(state.extensions.count)")]
        let body = rows - 1
        let stateWidth = 17
        let signedWidth = 8
        let publisherWidth = 12
        let versionWidth = 13
        // The upgrade policy and a staged version, where the identifier keeps room for 24 characters.
        let upgradeWidth = max(0, min(28, width - 2 - stateWidth - signedWidth - publisherWidth - versionWidth - 5 - 24))
        let identifierWidth = max(8, width - 2 - stateWidth - signedWidth - publisherWidth - versionWidth - upgradeWidth - 5)
        if state.extensions.isEmpty {
            lines.append(ScreenLine(text: fit("  no extensions installed", width), style: state.isStale ? .dim : .normal))
        }
        for index in window(count: state.extensions.count, selected: state.selectedExtension, rows: body) {
            let info = state.extensions[index]
            let text = cells(
                [
                    (info.identifier, identifierWidth), (info.versionDescription, versionWidth),
                    (info.publisher == "unsigned" ? "-" : String(info.publisher.prefix(publisherWidth)), publisherWidth),
                    (info.signed ? "signed" : "unsigned", signedWidth), (info.state.rawValue, stateWidth),
                ] + (upgradeWidth > 0 ? [(Self.upgradeCell(info), upgradeWidth)] : []))
            lines.append(
                row(text, selected: index == state.selectedExtension, focused: state.focus == .extensions, stale: state.isStale))
        }
        return pad(lines, rows)
    }

    private func eventPane(_ state: TUIState, rows: Int) -> [ScreenLine] {
        let scrolled = state.logScroll > 0 ? ", \(state.logScroll) newer below" : ""
        var lines = [header(.events, state, count: "\(state.log.count)\(scrolled)")]
        let body = max(0, rows - 1)
        let end = max(0, state.log.count - state.logScroll)
        let start = max(0, end - body)
        for line in state.log[start..<end] {
            lines.append(ScreenLine(text: fit("  " + line, width), style: state.isStale ? .dim : .normal))
        }
        return pad(lines, rows)
    }

    func pad(_ lines: [ScreenLine], _ rows: Int) -> [ScreenLine] {
        var lines = Array(lines.prefix(rows))
        while lines.count < rows { lines.append(ScreenLine(text: fit("", width), style: .normal)) }
        return lines
    }

    static let helpText: [String] = [
        "Keys",
        "  Up/Down, j/k   move in the focused pane (Events: scroll)",
        "  PgUp/PgDn      move ten rows",
        "  Tab, S-Tab     switch pane: Profiles, Extensions, Sessions, Events",
        "  c              connect the selected profile or session (root only)",
        "  d              disconnect it (root only)",
        "  l              the provider's log of its session",
        "  i              its session's execution context",
        "  a              approve the selected extension (root only)",
        "  x              remove the selected profile, asks y/n (root only)",
        "  /              filter profiles and sessions by name (Enter keeps)",
        "  Esc            clear the filter and the message line",
        "  ?              this help (any key closes it)",
        "  q              quit",
        "",
        "Sessions: ● connected, ◐ connecting/reasserting/disconnecting,",
        "○ disconnected, ✖ invalid, with the reason; uptime, interface, ↓rx and",
        "↑tx per second, and the last minute of traffic as a sparkline.",
        "The bottom line shows the status channel: live · seq N, reconnecting…",
        "(data marked [stale]), daemon going away (re-exec), resynced after crash.",
    ]

    private func messageLine(_ state: TUIState) -> ScreenLine {
        if state.editingFilter {
            let cursor = unicode ? "▏" : "_"
            return ScreenLine(text: fit("filter: \(state.filter)\(cursor)  (Enter keeps, Esc clears)", width), style: .notice)
        }
        if let pending = state.pending, state.message.isEmpty || state.message == pending.text + "…" {
            // Long actions (a connect waits for the tunnel) count their seconds.
            let seconds = Int(max(0, state.now - pending.since))
            return ScreenLine(text: fit(pending.text + "…" + (seconds > 0 ? " \(seconds)s" : ""), width), style: .notice)
        }
        if !state.message.isEmpty { return ScreenLine(text: fit(state.message, width), style: .notice) }
        if !state.filter.isEmpty {
            return ScreenLine(text: fit("filter: \(state.filter)  (/ edits, Esc clears)", width), style: .notice)
        }
        if let reason = state.readOnlyReason {
            return ScreenLine(
                text: fit("read-only: \(reason); connect (c), disconnect (d), approve (a), remove (x) are disabled", width),
                style: .notice)
        }
        if case .invalidated(_, let hint) = state.channel { return ScreenLine(text: fit(hint, width), style: .notice) }
        if case .reconnecting(let cause) = state.channel {
            return ScreenLine(text: fit("data may be stale: \(cause)", width), style: .notice)
        }
        return ScreenLine(text: fit("", width), style: .normal)
    }

    private func statusLine(_ state: TUIState) -> ScreenLine {
        var channel = state.channelText
        if !unicode { channel = Self.ascii(channel) }
        var keys = state.readOnlyReason == nil ? "c connect  d disconnect  / filter  ? help  q quit" : "read-only  / filter  ? help  q quit"
        // The channel is the point of this line: a long one ("daemon going away (re-exec) · seq N") shortens the keys.
        if channel.count > width - keys.count - 1 { keys = state.readOnlyReason == nil ? "? help  q quit" : "read-only  ? help  q quit" }
        let room = width - keys.count - 1
        guard room >= 12 else { return ScreenLine(text: fit(channel, width), style: .status) }
        return ScreenLine(text: fit(channel, room) + " " + keys, style: .status)
    }
}

extension Layout {
    /// The extensions pane's upgrade column: the policy in force, and a staged version waiting
    /// for it ("ask: 1.1.0 (2) staged").
    static func upgradeCell(_ info: ExtensionInfo) -> String {
        let policy = info.effectiveUpgradePolicy?.rawValue ?? "-"
        guard let staged = info.staged else { return policy }
        return "\(policy): \(staged.versionDescription) staged"
    }
}
