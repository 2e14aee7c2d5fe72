// TUIState+Keys: what each key does, by mode: editing the filter, confirming a removal, an
// overlay open, or the panes.

/// What a key means outside the filter editor.
enum TUICommand: Equatable {
    case up, down, pageUp, pageDown, home, end, tab, backTab
    case approve, remove, connect, disconnect, showLog, showContext, filter
    case yes, no, help, quit, escape
    case none

    init(_ key: TUIKey) {
        switch key {
        case .up: self = .up
        case .down: self = .down
        case .pageUp: self = .pageUp
        case .pageDown: self = .pageDown
        case .home: self = .home
        case .end: self = .end
        case .tab: self = .tab
        case .backTab: self = .backTab
        case .escape: self = .escape
        case .enter, .backspace, .resize, .other: self = .none
        case .character(let character): self = Self.command(for: character)
        }
    }

    private static func command(for character: Character) -> TUICommand {
        switch character {
        case "k": return .up
        case "j": return .down
        case "g": return .home
        case "G": return .end
        case "a": return .approve
        case "x": return .remove
        case "c": return .connect
        case "d": return .disconnect
        case "l": return .showLog
        case "i": return .showContext
        case "/": return .filter
        case "y", "Y": return .yes
        case "n", "N": return .no
        case "?", "h": return .help
        case "q", "Q": return .quit
        default: return .none
        }
    }
}

extension TUIState {
    mutating func handle(_ key: TUIKey) -> [TUIEffect] {
        if editingFilter, editFilter(key) { return [] }
        let command = TUICommand(key)
        if let name = confirmingRemoval {
            confirmingRemoval = nil
            if command == .yes {
                begin("removing profile \(name)")
                return [.removeProfile(name: name)]
            }
            message = "kept profile \(name)"
            return []
        }
        if overlay != nil { return handleInOverlay(command) }
        switch command {
        case .quit:
            quitting = true
            return [.quit]
        case .help:
            open(.help)
        case .tab:
            // Every rawValue in range: the modulo keeps it there.
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
        case .connect:
            return connect()
        case .disconnect:
            return disconnect()
        case .showLog:
            return showLog()
        case .showContext:
            showContext()
        case .filter:
            editingFilter = true
        case .escape:
            message = ""
            filter = ""
            clampSelections()
        case .yes, .no, .none:
            break
        }
        return []
    }

    /// Applies `key` to the filter being edited; false if the key is not the editor's (a move,
    /// Tab), which then acts as usual.
    private mutating func editFilter(_ key: TUIKey) -> Bool {
        switch key {
        case .character(let character):
            if filter.count < Self.maximumFilterLength { filter.append(character) }
        case .backspace:
            if !filter.isEmpty { filter.removeLast() }
        case .enter:
            editingFilter = false
        case .escape:
            editingFilter = false
            filter = ""
        case .resize, .other:
            break
        default:
            return false
        }
        selectedProfile = 0
        selectedSession = 0
        clampSelections()
        return true
    }

    private mutating func handleInOverlay(_ command: TUICommand) -> [TUIEffect] {
        switch command {
        case .quit:
            quitting = true
            return [.quit]
        case .up: overlayScroll = max(0, overlayScroll - 1)
        case .down: overlayScroll += 1  // Layout clamps to the content
        case .pageUp: overlayScroll = max(0, overlayScroll - 10)
        case .pageDown: overlayScroll += 10
        case .home: overlayScroll = 0
        case .end: overlayScroll = Int(Int32.max)
        default:
            overlay = nil
            overlayScroll = 0
            sessionLog = nil
        }
        return []
    }

    mutating func open(_ view: Overlay) {
        overlay = view
        overlayScroll = 0
    }

    private mutating func move(by delta: Int) {
        switch focus {
        case .profiles: selectedProfile = max(0, min(selectedProfile + delta, visibleProfiles.count - 1))
        case .extensions: selectedExtension = max(0, min(selectedExtension + delta, extensions.count - 1))
        case .sessions: selectedSession = max(0, min(selectedSession + delta, visibleSessions.count - 1))
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
        begin("approving \(info.identifier)")
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
        guard visibleProfiles.indices.contains(selectedProfile) else {
            message = "no profile to remove"
            return []
        }
        let name = visibleProfiles[selectedProfile].name
        confirmingRemoval = name
        message = "remove profile \(name)? y/n"
        return []
    }
}
