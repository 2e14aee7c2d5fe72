// culvert-tui driven through tmux: a real terminal (80×24), a real culvertd, changes made from
// "another shell" with culvertctl. Every wait is bounded; every tmux server is killed in teardown.

import CulvertBundle
import CulvertSystem
import CulvertTesting
import Foundation
import Glibc
import XCTest

/// One private tmux server (its own -L socket) with one 80×24 session.
final class TmuxPane {
    static let waitSeconds: TimeInterval = 15
    let server: String
    let session = "tui"

    init(_ name: String) {
        server = "culvert-tui-\(getpid())-\(name)"
    }

    private func tmux(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runProgram("/usr/bin/tmux", ["-u", "-L", server] + arguments)
    }

    /// Starts `command` (run by sh) in a new 80×24 session. The tmux server this starts outlives
    /// the call; it must not inherit the descriptor Foundation watches for the child's exit, so it
    /// is started through python3's subprocess, which closes every other descriptor.
    func start(_ command: String) throws {
        let script =
            "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, "
            + "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode)"
        let result = try runProgram(
            "/usr/bin/python3",
            ["-c", script, "/usr/bin/tmux", "-u", "-L", server, "new-session", "-d", "-x", "80", "-y", "24", "-s", session, command])
        XCTAssertEqual(result.status, 0, "tmux new-session \(command): \(result.output)")
        _ = try tmux(["set-option", "-t", session, "remain-on-exit", "on"])
    }

    func send(_ keys: String...) throws {
        let result = try tmux(["send-keys", "-t", session] + keys)
        XCTAssertEqual(result.status, 0, result.output)
    }

    /// The visible screen, one string per row; with `joined`, wrapped rows are joined; with
    /// `escapes`, text attributes and colours are kept as escape sequences.
    func capture(joined: Bool = false, escapes: Bool = false) throws -> [String] {
        let result = try tmux(["capture-pane", "-p", "-t", session] + (joined ? ["-J"] : []) + (escapes ? ["-e"] : []))
        var rows = result.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if rows.last == "" { rows.removeLast() }  // the output ends with a newline
        return rows
    }

    /// Polls the screen until `predicate` holds; fails the test with the last screen if it never does.
    @discardableResult
    func waitFor(
        _ what: String, seconds: TimeInterval = waitSeconds, file: StaticString = #filePath, line: UInt = #line,
        _ predicate: ([String]) -> Bool
    ) throws -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var screen: [String] = []
        while Date() < deadline {
            screen = try capture()
            if predicate(screen) { return screen }
            usleep(50_000)
        }
        XCTFail("timed out waiting for \(what); the screen:\n\(screen.joined(separator: "\n"))", file: file, line: line)
        throw XCTSkip("gave up waiting for \(what)")
    }

    /// Waits until some row contains `text`.
    @discardableResult
    func waitFor(_ text: String, seconds: TimeInterval = waitSeconds, file: StaticString = #filePath, line: UInt = #line) throws
        -> [String]
    {
        try waitFor("\"\(text)\"", seconds: seconds, file: file, line: line) { $0.contains { $0.contains(text) } }
    }

    func resize(width: Int, height: Int) throws {
        let result = try tmux(["resize-window", "-t", session, "-x", "\(width)", "-y", "\(height)"])
        XCTAssertEqual(result.status, 0, result.output)
    }

    func kill() {
        _ = try? tmux(["kill-server"])  // already gone is fine
    }
}

final class TUITests: XCTestCase {
    static let readerGroup = "culvert-it-readers"
    static let memberUser = "culvert-it-member"

    var tui: String { Products.path(of: "culvert-tui") }
    var culvertctl: String { Products.path(of: "culvertctl") }

    func pane(_ name: String) -> TmuxPane {
        let pane = TmuxPane(name)
        addTeardownBlock { pane.kill() }
        return pane
    }

    func ctl(_ daemon: DaemonProcess, _ arguments: [String]) throws -> String {
        let result = try runProgram(culvertctl, ["--socket", daemon.socketPath] + arguments)
        XCTAssertEqual(result.status, 0, "culvertctl \(arguments): \(result.output)")
        return result.output
    }

    /// The profile names the TUI lists (rows between the Profiles and Extensions headers).
    static func profileNames(_ screen: [String]) -> [String] {
        guard let start = screen.firstIndex(where: { $0.contains("Profiles (") }),
            let end = screen.firstIndex(where: { $0.contains("Extensions (") }), start < end
        else { return [] }
        return screen[(start + 1)..<end].compactMap { row in
            let trimmed = row.trimmingCharacters(in: CharacterSet(charactersIn: " ›>"))
            guard !trimmed.isEmpty, !trimmed.hasPrefix("no profiles") else { return nil }
            return String(trimmed.split(separator: " ").first ?? "")
        }
    }

    /// SGR parameters in `text` that set a colour (30–38, 40–48, 90–107); 39/49 only reset to the default.
    static func colourParameters(_ text: String) -> [Int] {
        let scalars = Array(text.unicodeScalars)
        var found: [Int] = []
        var index = 0
        while index + 1 < scalars.count {
            guard scalars[index] == "\u{1b}", scalars[index + 1] == "[" else {
                index += 1
                continue
            }
            var end = index + 2
            var parameters = ""
            while end < scalars.count, scalars[end] == ";" || ("0"..."9").contains(scalars[end]) {
                parameters.unicodeScalars.append(scalars[end])
                end += 1
            }
            if end < scalars.count, scalars[end] == "m" {
                found += parameters.split(separator: ";").compactMap { Int($0) }.filter {
                    (30...38).contains($0) || (40...48).contains($0) || (90...107).contains($0)
                }
            }
            index = end
        }
        return found
    }

    static func statusLine(_ screen: [String]) -> String {
        screen.last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) ?? ""
    }

    // (a) live, and a change from another shell appears without a key press.
    func testShowsLiveAndProfilesSavedElsewhere() throws {
        let daemon = try startDaemon(self)
        let pane = pane("live")
        try pane.start("env -u NO_COLOR LANG=C.UTF-8 \(tui) --socket \(daemon.socketPath)")
        try pane.waitFor("live status") { Self.statusLine($0).hasPrefix("live · seq 1") }
        XCTAssertFalse(Self.colourParameters(try pane.capture(escapes: true).joined()).isEmpty, "colours without NO_COLOR")

        _ = try ctl(daemon, ["profile", "add", "office", "--extension", "io.culvert.test", "--option", "mtu=1420"])
        let screen = try pane.waitFor("office listed") { Self.profileNames($0) == ["office"] }
        XCTAssertTrue(Self.statusLine(screen).hasPrefix("live · seq 2"), Self.statusLine(screen))
        XCTAssertTrue(screen.contains { $0.contains("#2 profile_saved office") }, screen.joined(separator: "\n"))

        _ = try ctl(daemon, ["profile", "add", "home", "--extension", "io.culvert.test"])
        try pane.waitFor("home listed") { Self.profileNames($0) == ["home", "office"] }

        // SIGWINCH: the layout follows the new size, larger and smaller.
        try pane.resize(width: 100, height: 30)
        try pane.waitFor("redrawn at 100x30") { screen in
            screen.count == 30 && screen[29].hasPrefix("live") && screen.contains { $0.hasPrefix("▶ Profiles (2)") && $0.count == 100 }
        }
        try pane.resize(width: 60, height: 20)
        let small = try pane.waitFor("redrawn at 60x20") { screen in
            screen.count == 20 && screen[19].hasPrefix("live") && screen.contains { $0.hasPrefix("▶ Profiles (2)") && $0.count == 60 }
        }
        XCTAssertTrue(try pane.capture(joined: true).allSatisfy { $0.count <= 60 }, small.joined(separator: "\n"))
    }

    // (b) kill -9 and restart: reconnecting (stale), resynced, live; data matches culvertctl.
    func testResyncsAfterDaemonCrash() throws {
        let daemon = try startDaemon(self)
        _ = try ctl(daemon, ["profile", "add", "alpha", "--extension", "io.culvert.test"])
        let pane = pane("crash")
        try pane.start("env LANG=C.UTF-8 \(tui) --socket \(daemon.socketPath)")
        try pane.waitFor("alpha listed live") { Self.profileNames($0) == ["alpha"] && Self.statusLine($0).hasPrefix("live") }

        daemon.crash()
        let stale = try pane.waitFor("reconnecting") { Self.statusLine($0).hasPrefix("reconnecting") }
        XCTAssertTrue(stale.contains { $0.contains("Profiles (1) [stale]") }, stale.joined(separator: "\n"))

        // A change right after the restart reaches the TUI in the snapshot or as a live event.
        try daemon.start()
        _ = try ctl(daemon, ["profile", "add", "beta", "--extension", "io.culvert.test"])
        try pane.waitFor("resynced") { Self.statusLine($0).hasPrefix("resynced after crash") }
        let live = try pane.waitFor("live again") { Self.statusLine($0).hasPrefix("live · seq") }
        XCTAssertFalse(live.contains { $0.contains("[stale]") }, live.joined(separator: "\n"))

        let json = try ctl(daemon, ["status", "--json"])
        let status = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let names = try XCTUnwrap(status["profiles"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        XCTAssertEqual(names.sorted(), ["alpha", "beta"])
        XCTAssertEqual(Self.profileNames(live), names.sorted())
        let seq = try XCTUnwrap(status["seq"] as? Int)
        XCTAssertTrue(Self.statusLine(live).hasPrefix("live · seq \(seq) "), Self.statusLine(live))
    }

    // (c) not root: a reader sees the data read-only and is told why; others are told they are denied.
    func testReadOnlyForUsersWhoAreNotRoot() throws {
        XCTAssertEqual(Identity.effectiveUserID, 0, "TUITests need root to create a test user")
        _ = try runProgram("/usr/sbin/groupadd", ["-f", Self.readerGroup])
        if try runProgram("/usr/bin/id", ["-u", Self.memberUser]).status != 0 {
            let made = try runProgram(
                "/usr/sbin/useradd",
                ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--groups", Self.readerGroup, Self.memberUser])
            XCTAssertEqual(made.status, 0, made.output)
        }
        let directory = try TemporaryDirectory(prefix: "culvert-tui")
        try FileSystem.setMode(directory.path, 0o755)  // other users must reach the socket
        let daemon = DaemonProcess(root: directory.path, arguments: ["--group", Self.readerGroup])
        addTeardownBlock {
            daemon.crash()
            directory.remove()
        }
        try daemon.start()
        _ = try ctl(daemon, ["profile", "add", "shared", "--extension", "io.culvert.test"])

        let reader = pane("reader")
        try reader.start(
            "setpriv --reuid=\(Self.memberUser) --regid=nogroup --init-groups -- env LANG=C.UTF-8 \(tui) --socket \(daemon.socketPath)")
        var screen = try reader.waitFor("reader live") { Self.profileNames($0) == ["shared"] && Self.statusLine($0).hasPrefix("live") }
        XCTAssertTrue(screen[0].contains("READ-ONLY"), screen[0])
        XCTAssertTrue(screen.contains { $0.hasPrefix("read-only: not root (uid ") }, screen.joined(separator: "\n"))
        XCTAssertTrue(Self.statusLine(screen).contains("read-only"), Self.statusLine(screen))
        try reader.send("x")
        screen = try reader.waitFor("remove is disabled: read-only")
        XCTAssertEqual(Self.profileNames(screen), ["shared"])
        try reader.send("c")
        // Why, not just that: the message says who may connect.
        try reader.waitFor("connect is disabled: read-only (not root (uid ")
        XCTAssertTrue(try reader.capture().contains { $0.contains("(not root (uid ") && $0.contains("): changes need root)") })
        try reader.send("d")
        try reader.waitFor("disconnect is disabled: read-only")
        try reader.send("Tab")
        try reader.send("a")
        try reader.waitFor("approve is disabled: read-only")

        let stranger = pane("stranger")
        try stranger.start(
            "setpriv --reuid=nobody --regid=nogroup --clear-groups -- env LANG=C.UTF-8 \(tui) --socket \(daemon.socketPath)")
        screen = try stranger.waitFor("denied") { Self.statusLine($0).hasPrefix("stopped: permission denied for ") }
        XCTAssertTrue(screen[0].contains("READ-ONLY"), screen[0])
        XCTAssertTrue(screen.contains { $0.contains("watching needs root or membership") }, screen.joined(separator: "\n"))
        XCTAssertTrue(screen.contains { $0.contains("Profiles (0) [stale]") }, screen.joined(separator: "\n"))
    }

    // (d) 80×24: nothing wraps or overlaps, long text ends in an ellipsis; q and Ctrl-C restore the shell.
    func testFitsEightyByTwentyFourAndRestoresTheTerminal() throws {
        let daemon = try startDaemon(self)
        let longName = "a-profile-name-that-is-far-too-long-for-its-column-" + String(repeating: "x", count: 12)
        _ = try ctl(daemon, ["profile", "add", longName, "--extension", "io.culvert.an-extension-identifier-that-is-long"])
        let pane = pane("layout")
        try pane.start("env PS1='shell$ ' LANG=C.UTF-8 sh")
        try pane.waitFor("shell$")
        try pane.send("\(tui) --socket \(daemon.socketPath)", "Enter")
        let screen = try pane.waitFor("live") { Self.statusLine($0).hasPrefix("live") }

        let joined = try pane.capture(joined: true)
        XCTAssertTrue(joined.allSatisfy { $0.count <= 80 }, joined.joined(separator: "\n"))
        XCTAssertEqual(screen.count, 24, screen.joined(separator: "\n"))
        XCTAssertTrue(screen[0].hasPrefix("culvert-tui · culvertd "), screen[0])
        XCTAssertEqual(screen.filter { $0.contains("Profiles (1)") }.count, 1)
        XCTAssertEqual(screen.filter { $0.contains("Extensions (0)") }.count, 1)
        XCTAssertEqual(screen.filter { $0.contains("Events (") }.count, 1)
        let profileRow = try XCTUnwrap(screen.first { $0.contains("a-profile-name") }, screen.joined(separator: "\n"))
        XCTAssertTrue(profileRow.contains("…"), profileRow)
        XCTAssertFalse(profileRow.contains(longName), profileRow)
        XCTAssertTrue(screen[23].hasSuffix("q quit"), screen[23])

        // The help overlay fits too, and any key closes it.
        try pane.send("?")
        let help = try pane.waitFor("Tab, S-Tab")
        XCTAssertTrue(try pane.capture(joined: true).allSatisfy { $0.count <= 80 }, help.joined(separator: "\n"))
        try pane.send("Escape")
        try pane.waitFor("Profiles (1)")

        let restored = "stty -a | tr ' ;' '\\n\\n' | grep -cx -e icanon -e echo | sed 's/^/restored=/'"
        try pane.send("q")
        try pane.waitFor("shell back after q") { screen in
            !screen.contains { $0.contains("Profiles (") } && screen.contains { $0.hasPrefix("shell$") }
        }
        try pane.send(restored, "Enter")
        try pane.waitFor("restored=2")

        try pane.send("clear; \(tui) --socket \(daemon.socketPath)", "Enter")
        try pane.waitFor("live again") { Self.statusLine($0).hasPrefix("live") }
        try pane.send("C-c")
        try pane.waitFor("shell back after Ctrl-C") { screen in
            !screen.contains { $0.contains("Profiles (") } && screen.contains { $0.hasPrefix("shell$") }
        }
        try pane.send("clear; " + restored, "Enter")
        try pane.waitFor("restored=2")

        try pane.send("clear; \(tui) --socket \(daemon.socketPath)", "Enter")
        try pane.waitFor("live once more") { Self.statusLine($0).hasPrefix("live") }
        let pid = try XCTUnwrap(Self.pid(of: [tui, "--socket", daemon.socketPath]))
        XCTAssertEqual(Glibc.kill(pid, SIGTERM), 0)
        try pane.waitFor("shell back after SIGTERM") { screen in
            !screen.contains { $0.contains("Profiles (") } && screen.contains { $0.hasPrefix("shell$") }
        }
        try pane.send("clear; " + restored, "Enter")
        try pane.waitFor("restored=2")
    }

    /// The process whose command line is exactly `arguments`.
    static func pid(of arguments: [String]) -> pid_t? {
        let wanted = Data((arguments.joined(separator: "\0") + "\0").utf8)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {  // /proc always lists
            guard let pid = pid_t(entry), let line = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            if line == wanted { return pid }
        }
        return nil
    }

    // ASCII fallback outside UTF-8 locales ("..." and "-"), and NO_COLOR: attributes but no colours.
    func testASCIIFallbackAndNoColor() throws {
        let daemon = try startDaemon(self)
        _ = try ctl(daemon, ["profile", "add", "p-" + String(repeating: "y", count: 40), "--extension", "io.culvert.test"])
        let pane = pane("ascii")
        try pane.start("env LANG=C LC_ALL=C NO_COLOR=1 \(tui) --socket \(daemon.socketPath)")
        let screen = try pane.waitFor("live") { Self.statusLine($0).hasPrefix("live - seq 2") }
        XCTAssertTrue(screen.allSatisfy { $0.allSatisfy(\.isASCII) }, screen.joined(separator: "\n"))
        let row = try XCTUnwrap(screen.first { $0.contains("p-yyy") }, screen.joined(separator: "\n"))
        XCTAssertTrue(row.contains("..."), row)
        let styled = try pane.capture(escapes: true).joined(separator: "\n")
        XCTAssertTrue(styled.contains("\u{1b}[7m"), "reverse video is still used")
        XCTAssertEqual(Self.colourParameters(styled), [], styled)
        try pane.send("q")
    }

    // The Sessions pane is there (empty on a daemon without sessions); / filters profiles as you
    // type, Enter keeps the filter, Esc clears it; i on a profile that never connected says so.
    func testSessionsPaneFilterAndNoSessionYet() throws {
        let daemon = try startDaemon(self)
        for name in ["home", "office", "office-2"] { _ = try ctl(daemon, ["profile", "add", name, "--extension", "io.culvert.test"]) }
        let pane = pane("filter")
        try pane.start("env LANG=C.UTF-8 \(tui) --socket \(daemon.socketPath)")
        var screen = try pane.waitFor("three profiles") { Self.profileNames($0) == ["home", "office", "office-2"] }
        XCTAssertTrue(screen.contains { $0.contains("Sessions (0)") }, screen.joined(separator: "\n"))
        XCTAssertTrue(screen.contains { $0.contains("no sessions (c connects the selected profile)") }, screen.joined(separator: "\n"))
        XCTAssertTrue(Self.statusLine(screen).hasSuffix("c connect  d disconnect  / filter  ? help  q quit"), Self.statusLine(screen))

        try pane.send("/")
        try pane.send("o", "f", "f")
        screen = try pane.waitFor("filtered") { Self.profileNames($0) == ["office", "office-2"] }
        XCTAssertTrue(screen.contains { $0.contains("Profiles (2 of 3)") }, screen.joined(separator: "\n"))
        XCTAssertTrue(screen.contains { $0.hasPrefix("filter: off") }, screen.joined(separator: "\n"))
        try pane.send("Enter")
        try pane.send("j")  // a command again once the filter is kept: moves to office-2
        try pane.send("i")
        try pane.waitFor("office-2 has no session yet (c connects it)")
        try pane.send("Escape")
        try pane.waitFor("filter cleared") { Self.profileNames($0) == ["home", "office", "office-2"] }
        try pane.send("q")
    }

    // Actions: an extension installed from another shell appears awaiting approval, `a` approves
    // it; `x` asks before removing a profile, `n` keeps it, `y` removes it.
    func testApproveExtensionAndRemoveProfileWithConfirmation() throws {
        let directory = try TemporaryDirectory(prefix: "culvert-tui")
        let daemon = DaemonProcess(root: directory.path)
        addTeardownBlock {
            daemon.crash()
            directory.remove()
        }
        let key = SigningKey.generate()
        try BundleFixture.policy(configDirectory: daemon.configDirectory, requireApproval: true)
        try BundleFixture.trust(key, configDirectory: daemon.configDirectory)
        try daemon.start()
        _ = try ctl(daemon, ["profile", "add", "office", "--extension", "io.culvert.test"])

        let pane = pane("actions")
        try pane.start("env LANG=C.UTF-8 \(tui) --socket \(daemon.socketPath)")
        try pane.waitFor("live") { Self.statusLine($0).hasPrefix("live") }
        let bundle = try BundleFixture.make(in: directory.file("src"), version: "1.2.0", build: 5, key: key)
        _ = try ctl(daemon, ["extension", "install", bundle])
        var screen = try pane.waitFor("awaiting approval") { $0.contains { $0.contains("awaiting_approval") } }
        let row = try XCTUnwrap(
            screen.first { $0.contains("io.culvert.test ") && $0.contains("1.2.0 (5)") }, screen.joined(separator: "\n"))
        XCTAssertTrue(row.contains(" signed ") && row.contains(String(key.publisherKey.fingerprint.prefix(12))), row)

        try pane.send("a")
        try pane.waitFor("select an extension first")
        try pane.send("Tab")
        try pane.send("a")
        screen = try pane.waitFor("approved") { screen in
            screen.contains { $0.hasPrefix("approved io.culvert.test") } && screen.contains { $0.contains(" enabled") }
        }
        XCTAssertTrue(
            screen.contains { $0.contains("extension_approved io.culvert.test 1.2.0 (5) enabled") }, screen.joined(separator: "\n"))

        try pane.send("Tab")  // Sessions
        try pane.send("Tab")  // Events
        try pane.send("Tab")  // back to Profiles
        try pane.send("x")
        try pane.waitFor("remove profile office? y/n")
        try pane.send("n")
        try pane.waitFor("kept profile office")
        XCTAssertEqual(Self.profileNames(try pane.capture()), ["office"])
        try pane.send("x")
        try pane.waitFor("remove profile office? y/n")
        try pane.send("y")
        screen = try pane.waitFor("removed") { screen in
            screen.contains { $0.hasPrefix("removed profile office") } && Self.profileNames(screen).isEmpty
        }
        let json = try ctl(daemon, ["status", "--json"])
        let status = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual((status["profiles"] as? [Any])?.count, 0)
    }
}
