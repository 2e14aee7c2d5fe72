// culvertctl's session commands (connect, disconnect, session list/show/log, message): help,
// usage, and what a real culvertd without live tunnels answers. Tests that need a tunnel
// that comes up belong with the daemon's session support.

import CulvertTesting
import Foundation
import XCTest

final class CulvertctlSessionTests: XCTestCase {
    static let commands: [[String]] = [
        ["connect"], ["disconnect"], ["session"], ["session", "list"], ["session", "show"], ["session", "log"], ["message"],
    ]

    func testHelpDocumentsTheSessionCommands() throws {
        let root = try culvertctl(["--help"])
        XCTAssertEqual(root.status, 0)
        for text in ["connect", "disconnect", "session", "message", "SessionNotFound", "ProviderUnavailable", "ConnectFailed"] {
            XCTAssertTrue(root.stdout.contains(text), "root --help lacks \(text):\n\(root.stdout)")
        }
        for command in Self.commands {
            let help = try culvertctl(command + ["--help"])
            XCTAssertEqual(help.status, 0, "\(command) --help")
            XCTAssertTrue(help.stdout.hasPrefix("OVERVIEW: "), "\(command) --help has no abstract")
            XCTAssertTrue(help.stdout.contains("EXAMPLES\n  culvertctl "), "\(command) --help has no examples:\n\(help.stdout)")
            XCTAssertTrue(help.stdout.contains("--socket <path>") && help.stdout.contains("--json"), "\(command): global options")
            if command != ["session"] && command != ["session", "list"] {
                XCTAssertTrue(help.stdout.contains("EXIT STATUS\n  0   "), "\(command) --help has no exit statuses:\n\(help.stdout)")
            }
        }
        XCTAssertTrue(try culvertctl(["connect", "--help"]).stdout.contains("--no-wait"))
        XCTAssertTrue(try culvertctl(["disconnect", "--help"]).stdout.contains("--no-wait"))
        XCTAssertTrue(try culvertctl(["session", "log", "--help"]).stdout.contains("--lines <n>"))
        XCTAssertTrue(try culvertctl(["message", "--help"]).stdout.contains("--base64"))
    }

    func testBadUsageExits64() throws {
        let socket = "/nonexistent/culvert.sock"  // usage is checked before any connection
        for arguments in [
            ["connect"], ["connect", "a", "b"], ["connect", "a", "--wait"], ["disconnect"], ["session", "show"], ["session", "log"],
            ["session", "log", "a", "--lines", "0"], ["session", "log", "a", "--lines", "x"], ["session", "frob"], ["message", "a"],
            ["message", "a", "not base64!", "--base64"],
        ] {
            let result = try culvertctl(["--socket", socket] + arguments)
            XCTAssertEqual(result.status, 64, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
            XCTAssertTrue(result.stderr.hasPrefix("culvertctl: error: "), "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderrLines.count, 1, "\(arguments): \(result.stderr)")
        }
    }

    func testNoDaemonExits69() throws {
        let directory = try TemporaryDirectory(prefix: "culvertctl-session-nodaemon")
        defer { directory.remove() }
        let socket = directory.file("io.culvert.Manager")
        for command in [
            ["connect", "a"], ["disconnect", "a", "--no-wait"], ["session", "list"], ["session", "show", "a"], ["session", "log", "a"],
            ["message", "a", "hello"],
        ] {
            let result = try culvertctl(["--socket", socket] + command)
            XCTAssertEqual(result.status, 69, "\(command): \(result.stderr)")
            XCTAssertEqual(result.stdout, "")
            XCTAssertEqual(
                result.stderrLines,
                ["culvertctl: error: cannot reach culvertd: No such file or directory (is culvertd running? socket: \(socket))"])
        }
    }

    func testSessionListAndStatusOnADaemonWithoutSessions() throws {
        let daemon = try startDaemon(self)
        let socket = ["--socket", daemon.socketPath]
        let list = try culvertctl(socket + ["session", "list"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertEqual(list.stdoutLines, ["no sessions"])
        let json = try culvertctl(socket + ["--json", "session", "list"])
        XCTAssertEqual(json.status, 0, json.stderr)
        XCTAssertEqual(json.stdoutLines, [#"{"sessions":[]}"#])

        let status = try culvertctl(socket + ["status"])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdoutLines.contains("sessions  none"), status.stdout)
        let statusJSON = try jsonObject(try culvertctl(socket + ["status", "--json"]).stdout)
        XCTAssertEqual((statusJSON["sessions"] as? [Any])?.count, 0)
    }

    func testSessionShowTellsMissingProfileFromProfileWithoutSession() throws {
        let daemon = try startDaemon(self)
        let socket = ["--socket", daemon.socketPath]
        let missing = try culvertctl(socket + ["session", "show", "nope"])
        XCTAssertEqual(missing.status, 66, missing.stderr)
        XCTAssertEqual(missing.stdout, "")
        XCTAssertEqual(
            missing.stderrLines, [#"culvertctl: error: no profile named "nope" (`culvertctl profile list` shows the profiles)"#])

        let added = try culvertctl(socket + ["profile", "add", "office", "--extension", "io.culvert.test"])
        XCTAssertEqual(added.status, 0, added.stderr)
        let never = try culvertctl(socket + ["session", "show", "office"])
        XCTAssertEqual(never.status, 66, never.stderr)
        XCTAssertEqual(
            never.stderrLines,
            [
                #"culvertctl: error: profile "office" has no session (it was not connected since culvertd started; "#
                    + "`culvertctl connect office` starts it)"
            ])
        let json = try culvertctl(socket + ["--json", "session", "show", "office"])
        XCTAssertEqual(json.status, 66)
        let error = try jsonObject(json.stderr)
        XCTAssertEqual(error["exitCode"] as? Int, 66)
        XCTAssertEqual((error["error"] as? [String: Any])?["code"] as? String, "session_not_found")
        XCTAssertNil((error["error"] as? [String: Any])?["log"], "only a failed connect carries log lines")
    }

    private func culvertctl(_ arguments: [String]) throws -> CommandResult {
        let command = try BackgroundCommand([Products.path(of: "culvertctl")] + arguments)
        defer { command.kill() }
        return try command.wait()
    }
}
