// Terminal: the only file that talks to ncurses. It copies Layout's lines to the screen, reads
// keys, and guarantees endwin on every way out (return, throw, signal, crash).

import CNcurses
import CulvertTUIModel
import FoundationEssentials
import Glibc

final class Terminal {
    private let window: UnsafeMutablePointer<WINDOW>
    private let colors: Bool
    let unicode: Bool
    private var stopped = false

    // ncurses attribute bits (NCURSES_BITS macros do not import).
    private static let reverse: Int32 = 1 << 18
    private static let underline: Int32 = 1 << 17
    private static let dim: Int32 = 1 << 20
    private static let bold: Int32 = 1 << 21
    private static func pair(_ n: Int32) -> Int32 { n << 8 }

    /// Enters curses mode. `pollMilliseconds` bounds how long `readKey` waits.
    init(pollMilliseconds: Int32, environment: [String: String]) throws {
        setlocale(LC_ALL, "")
        let codeset = String(cString: nl_langinfo(nl_item(CODESET)))
        unicode = codeset.uppercased() == "UTF-8" || codeset.uppercased() == "UTF8"
        guard let window = initscr() else { throw TerminalError.cannotStart }
        self.window = window
        Self.installCrashHandlers()
        cbreak()
        noecho()
        nonl()
        keypad(window, true)
        curs_set(0)
        set_escdelay(25)
        wtimeout(window, pollMilliseconds)
        let noColor = !(environment["NO_COLOR"] ?? "").isEmpty
        if !noColor, has_colors() {
            start_color()
            use_default_colors()
            init_pair(1, Int16(COLOR_CYAN), -1)
            init_pair(2, Int16(COLOR_YELLOW), -1)
            init_pair(3, Int16(COLOR_BLACK), Int16(COLOR_CYAN))
            init_pair(4, Int16(COLOR_GREEN), -1)
            init_pair(5, Int16(COLOR_RED), -1)
            colors = true
        } else {
            colors = false
        }
    }

    deinit { stop() }

    /// Leaves curses mode; safe to call twice.
    func stop() {
        guard !stopped else { return }
        stopped = true
        endwin()
    }

    var size: (width: Int, height: Int) { (Int(getmaxx(window)), Int(getmaxy(window))) }

    func draw(_ lines: [ScreenLine]) {
        werase(window)
        for (row, line) in lines.enumerated() {
            let attributes = attributes(line.style)
            wattron(window, attributes)
            // The bottom-right cell makes waddstr report ERR (the cursor cannot advance); the text is drawn.
            _ = mvwaddstr(window, Int32(row), 0, line.text)
            wattroff(window, attributes)
        }
        wrefresh(window)
    }

    private func attributes(_ style: LineStyle) -> Int32 {
        switch style {
        case .normal: return 0
        case .title: return colors ? Self.pair(3) | Self.bold : Self.reverse | Self.bold
        case .header: return Self.bold
        case .focusedHeader: return colors ? Self.pair(1) | Self.bold : Self.bold | Self.underline
        case .selected: return Self.reverse
        case .dim: return Self.dim
        case .status: return Self.reverse
        case .notice: return colors ? Self.pair(2) | Self.bold : Self.bold
        // Without colour the session states differ by attribute, and by their mark (● ◐ ○ ✖).
        case .good: return colors ? Self.pair(4) | Self.bold : Self.bold
        case .pending: return colors ? Self.pair(2) : 0
        case .bad: return colors ? Self.pair(5) | Self.bold : Self.bold | Self.underline
        }
    }

    /// The next key, or nil when none came within the poll interval.
    func readKey() -> TUIKey? {
        let code = wgetch(window)
        switch code {
        case ERR: return nil
        case KEY_UP: return .up
        case KEY_DOWN: return .down
        case KEY_PPAGE: return .pageUp
        case KEY_NPAGE: return .pageDown
        case KEY_HOME: return .home
        case KEY_END: return .end
        case 9: return .tab
        case KEY_BTAB: return .backTab
        case 10, 13, KEY_ENTER: return .enter
        case 8, 127, KEY_BACKSPACE: return .backspace
        case 27: return .escape
        case KEY_RESIZE: return .resize
        // Printable ASCII; what a letter means is TUIState's decision (a command, or filter text).
        case 32...126: return .character(Character(Unicode.Scalar(UInt8(code))))
        default: return .other
        }
    }

    /// On a crash signal: restore the terminal, then die of the same signal.
    private static func installCrashHandlers() {
        for signalNumber in [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE] {
            signal(signalNumber) { received in
                endwin()
                signal(received, SIG_DFL)
                raise(received)
            }
        }
    }
}

enum TerminalError: Error, CustomStringConvertible {
    case cannotStart
    var description: String { "cannot start the terminal (is TERM set?)" }
}
