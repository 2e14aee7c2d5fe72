// culvertctl daemon reexec against a real culvertd: the confirmation line, the exit statuses of
// a refused re-exec, and a `culvertctl watch` that keeps its connection across the exec.

import CulvertTesting
import Foundation
import XCTest

final class CulvertctlReexecTests: XCTestCase {
    func testHelpDocumentsDaemonReexec() throws {
        let root = try culvertctl(["--help"])
        XCTAssertEqual(root.status, 0)
        XCTAssertTrue(root.stdout.contains("daemon") && root.stdout.contains("culvertctl daemon reexec"), root.stdout)
        XCTAssertTrue(root.stdout.contains("  75  "), "root --help lists exit status 75:\n\(root.stdout)")
        let group = try culvertctl(["daemon", "--help"])
        XCTAssertEqual(group.status, 0)
        XCTAssertTrue(group.stdout.contains("EXAMPLES\n  culvertctl daemon reexec"), group.stdout)
        let help = try culvertctl(["daemon", "reexec", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.hasPrefix("OVERVIEW: "), help.stdout)
        XCTAssertTrue(help.stdout.contains("EXAMPLES\n  culvertctl daemon reexec"), help.stdout)
        XCTAssertTrue(help.stdout.contains("EXIT STATUS\n  0   "), help.stdout)
        for status in ["65  ", "69  ", "75  ", "77  "] where !help.stdout.contains("\n  " + status) {
            XCTFail("daemon reexec --help lacks exit status \(status):\n\(help.stdout)")
        }
        XCTAssertTrue(help.stdout.contains("--binary <path>"), help.stdout)

        let usage = try culvertctl(["--socket", "/nonexistent/culvert.sock", "daemon", "reexec", "extra"])
        XCTAssertEqual(usage.status, 64, usage.stderr)
    }

    func testReexecConfirmsAndAWatchFollowsAcrossIt() throws {
        let daemon = try startDaemon(self)
        let socket = ["--socket", daemon.socketPath]
        let before = try ping(daemon)
        // Three change events: daemon_going_away, daemon_back, and the save after the exec.
        let watch = try BackgroundCommand([Products.path(of: "culvertctl")] + socket + ["watch", "--count", "3"])
        defer { watch.kill() }
        _ = try watch.waitForLine { $0.hasPrefix("seq 1  snapshot") }

        let reexec = try culvertctl(socket + ["daemon", "reexec"])
        XCTAssertEqual(reexec.status, 0, reexec.stderr)
        XCTAssertEqual(reexec.stderr, "")
        let version = try XCTUnwrap(before["version"] as? String)
        XCTAssertEqual(reexec.stdoutLines.count, 1, reexec.stdout)
        let confirmation = try XCTUnwrap(reexec.stdoutLines.first)
        XCTAssertNotNil(
            confirmation.range(
                of: #"^culvertd re-executed: version \#(version) → \#(version), epoch unchanged, \d+ ms$"#, options: .regularExpression),
            confirmation)
        let after = try ping(daemon)
        XCTAssertEqual(after["epoch"] as? String, before["epoch"] as? String)

        let goingAway = try watch.waitForLine { $0.hasPrefix("seq 2  ") }
        XCTAssertNotNil(
            goingAway.range(
                of: #"^seq 2  daemon_going_away  culvertd going away \(reexec\), by uid 0 pid \d+ culvertctl$"#, options: .regularExpression
            ),
            goingAway)
        let back = try watch.waitForLine { $0.hasPrefix("seq 3  ") }
        XCTAssertEqual(back, "seq 3  daemon_back  culvertd back: \(version) → \(version) (pid \(daemon.pid)), epoch unchanged")

        let saved = try culvertctl(socket + ["profile", "add", "after", "--extension", "io.culvert.test"])
        XCTAssertEqual(saved.status, 0, saved.stderr)
        let result = try watch.wait()
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "", "a re-exec is no error for watch")
        XCTAssertEqual(result.stdoutLines.count, 4, result.stdout)
        XCTAssertTrue(result.stdoutLines.last?.hasPrefix("seq 4  profile_saved  after  (created, by uid 0 ") == true, result.stdout)
        XCTAssertFalse(
            result.stdoutLines.contains { $0.hasPrefix("interrupted") || $0.hasPrefix("resumed") || $0.hasPrefix("resynced") },
            "the watch connection is carried, not re-established:\n\(result.stdout)")

        let json = try culvertctl(socket + ["--json", "daemon", "reexec"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try jsonObject(json.stdout)
        XCTAssertEqual(object["epoch"] as? String, before["epoch"] as? String)
        XCTAssertEqual(object["previousVersion"] as? String, version)
        XCTAssertEqual(object["version"] as? String, version)
        XCTAssertNotNil(object["milliseconds"] as? Int)
    }

    func testAnUnusableBinaryExits65AndChangesNothing() throws {
        let daemon = try startDaemon(self)
        let socket = ["--socket", daemon.socketPath]
        let before = try ping(daemon)
        for binary in ["/nonexistent/culvertd", "relative/culvertd"] {
            let result = try culvertctl(socket + ["daemon", "reexec", "--binary", binary])
            XCTAssertEqual(result.status, 65, result.stderr)
            XCTAssertEqual(result.stdout, "")
            XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
            XCTAssertTrue(result.stderr.hasPrefix("culvertctl: error: re-exec refused: binary unusable: \(binary) "), result.stderr)
            let json = try culvertctl(socket + ["--json", "daemon", "reexec", "--binary", binary])
            XCTAssertEqual(json.status, 65, json.stderr)
            let error = try jsonObject(json.stderr)
            XCTAssertEqual((error["error"] as? [String: Any])?["code"] as? String, "binary_unusable")
            XCTAssertEqual(error["exitCode"] as? Int, 65)
        }
        let after = try ping(daemon)
        XCTAssertEqual(after["epoch"] as? String, before["epoch"] as? String)
        XCTAssertEqual(after["seq"] as? Int, before["seq"] as? Int, "a refused re-exec announces nothing")
    }

    func testABusyDaemonExits75() throws {
        let h = try TunnelLab(test: self, startPeer: false)
        try h.saveProfile("slow", options: ["behaviour": "hang-on-start"])
        _ = try h.connect("slow", wait: false)
        let result = try culvertctl(["--socket", h.daemon.socketPath, "daemon", "reexec"])
        XCTAssertEqual(result.status, 75, result.stderr)
        XCTAssertTrue(result.stderr.hasPrefix("culvertctl: error: re-exec refused: busy: "), result.stderr)
        XCTAssertTrue(result.stderr.contains("try again"), result.stderr)
    }

    func testNoDaemonExits69() throws {
        let directory = try TemporaryDirectory(prefix: "culvertctl-reexec-nodaemon")
        defer { directory.remove() }
        let result = try culvertctl(["--socket", directory.file("io.culvert.Manager"), "daemon", "reexec"])
        XCTAssertEqual(result.status, 69, result.stderr)
        XCTAssertEqual(result.stdout, "")
    }

    // MARK: helpers

    /// culvertctl --json ping, parsed.
    private func ping(_ daemon: DaemonProcess) throws -> [String: Any] {
        let result = try culvertctl(["--socket", daemon.socketPath, "--json", "ping"])
        XCTAssertEqual(result.status, 0, result.stderr)
        return try jsonObject(result.stdout)
    }

    /// Runs culvertctl to completion (bounded by BackgroundCommand's timeout).
    private func culvertctl(_ arguments: [String]) throws -> CommandResult {
        let command = try BackgroundCommand([Products.path(of: "culvertctl")] + arguments)
        defer { command.kill() }
        return try command.wait()
    }
}
