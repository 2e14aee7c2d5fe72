// culvertctl against a real culvertd: output, --json, exit statuses, watch.

import CulvertTesting
import Foundation
import XCTest

final class CulvertctlTests: XCTestCase {
    // MARK: help and usage

    func testHelpDocumentsEveryCommandAndTheExitStatuses() throws {
        let root = try culvertctl(["--help"])
        XCTAssertEqual(root.status, 0)
        for line in [
            "EXIT STATUS", "64  usage error", "65  input refused", "66  not found", "69  daemon unreachable",
            "77  permission denied", "CULVERT_SOCKET", "EXAMPLES",
        ] {
            XCTAssertTrue(root.stdout.contains(line), "root --help lacks \(line):\n\(root.stdout)")
        }
        for command in [
            ["status"], ["watch"], ["ping"], ["profile"], ["profile", "add"], ["profile", "list"],
            ["profile", "show"], ["profile", "remove"],
        ] {
            let help = try culvertctl(command + ["--help"])
            XCTAssertEqual(help.status, 0, "\(command) --help")
            XCTAssertTrue(help.stdout.hasPrefix("OVERVIEW: "), "\(command) --help has no abstract")
            XCTAssertTrue(help.stdout.contains("EXAMPLES\n  culvertctl "), "\(command) --help has no examples:\n\(help.stdout)")
            XCTAssertTrue(help.stdout.contains("--socket <path>") && help.stdout.contains("--json"), "\(command): global options")
        }
    }

    func testBadUsageExits64WithOneLineError() throws {
        let socket = "/nonexistent/culvert.sock"  // usage is checked before any connection
        for arguments in [
            ["frobnicate"], ["status", "--bogus"], ["profile", "add", "x"],
            ["profile", "add", "x", "--extension", "a.b", "--option", "novalue"],
            ["profile", "add", "x", "--extension", "a.b", "--option", "k=1", "--option", "k=2"], ["profile", "show"],
            ["watch", "--since", "3"], ["watch", "--count", "0"], ["watch", "--since", "x", "--epoch", "e"],
        ] {
            let result = try culvertctl(["--socket", socket] + arguments)
            XCTAssertEqual(result.status, 64, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
            XCTAssertTrue(result.stderr.hasPrefix("culvertctl: error: "), "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderrLines.count, 1, "\(arguments): \(result.stderr)")
        }
        let json = try culvertctl(["--json", "profile", "show"])
        XCTAssertEqual(json.status, 64)
        let error = try jsonObject(json.stderr)
        XCTAssertEqual(error["exitCode"] as? Int, 64)
        XCTAssertEqual((error["error"] as? [String: Any])?["code"] as? String, "usage")
    }

    // MARK: no daemon

    func testNoDaemonExits69WithHint() throws {
        let directory = try TemporaryDirectory(prefix: "culvertctl-nodaemon")
        defer { directory.remove() }
        let socket = directory.file("io.culvert.Manager")
        for command in [["status"], ["ping"], ["profile", "list"], ["profile", "remove", "x"]] {
            let result = try culvertctl(["--socket", socket] + command)
            XCTAssertEqual(result.status, 69, "\(command)")
            XCTAssertEqual(result.stdout, "")
            XCTAssertEqual(
                result.stderrLines,
                ["culvertctl: error: cannot reach culvertd: No such file or directory (is culvertd running? socket: \(socket))"])
        }
        let json = try culvertctl(["--socket", socket, "--json", "ping"])
        XCTAssertEqual(json.status, 69)
        let error = try jsonObject(json.stderr)
        XCTAssertEqual(error["exitCode"] as? Int, 69)
        XCTAssertEqual((error["error"] as? [String: Any])?["code"] as? String, "daemon_unreachable")
        XCTAssertEqual((error["error"] as? [String: Any])?["hint"] as? String, "is culvertd running? socket: \(socket)")
    }

    // MARK: status, ping

    /// What status says about containment, with the layout and its description (which depend on
    /// the machine's cgroups and the daemon's runtime directory) normalised by `normalised`.
    static let containmentLines = [
        "provider uids  90000-99999 (one per running provider)",
        "cgroups        LAYOUT",
        "seccomp        on (refused calls fail with EPERM and are counted)",
        "               DESCRIPTION",
    ]

    static func sessionsRootNamed(_ line: String) -> String {
        if line.hasPrefix("cgroups        ") { return "cgroups        LAYOUT" }
        if line.hasPrefix("               ") && !line.trimmingCharacters(in: .whitespaces).isEmpty { return "               DESCRIPTION" }
        return line
    }

    func testStatusAndPingTextAndJSON() throws {
        let daemon = try startDaemon(self)
        let pingJSON = try culvertctl(["--socket", daemon.socketPath, "--json", "ping"])
        XCTAssertEqual(pingJSON.status, 0, pingJSON.stderr)
        let ping = try jsonObject(pingJSON.stdout)
        let epoch = try XCTUnwrap(ping["epoch"] as? String)
        XCTAssertEqual(ping["seq"] as? Int, 1)  // daemon_started
        XCTAssertEqual(ping["version"] as? String, "0.1.0")

        let pingText = try culvertctl(["--socket", daemon.socketPath, "ping"])
        XCTAssertEqual(pingText.status, 0)
        XCTAssertTrue(pingText.stdout.hasPrefix("culvertd 0.1.0 is serving  epoch \(epoch)  seq 1  ("), pingText.stdout)

        let empty = try culvertctl(["--socket", daemon.socketPath, "status"])
        XCTAssertEqual(empty.status, 0, empty.stderr)
        let lines = empty.stdoutLines.map(Self.sessionsRootNamed)
        XCTAssertEqual(lines.count, 17, empty.stdout)
        XCTAssertTrue(lines[0].hasPrefix("daemon    culvertd 0.1.0  pid \(daemon.pid)  started "), lines[0])
        XCTAssertEqual(
            Array(lines[1...]),
            [
                "socket    \(daemon.socketPath)", "epoch     \(epoch)", "seq       1", "profiles  none", "extensions  none",
                "sessions  none", "problems  none",
            ] + Self.containmentLines + [
                "connections  at most 4096 (16 reserved for root, 16 for readers), 1024 per uid",
                "  budgets    4 MiB per non-root uid, 16 MiB for all others; partial message 10 s",
                "  root       1 open, 0 B buffered;  message 16 MiB, output 4 MiB, no idle limit",
                "  readers    0 open, 0 B buffered;  message 64 KiB, output 1 MiB, idle 60 s",
                "  others     0 open, 0 B buffered;  message 64 KiB, output 64 KiB, idle 60 s",
            ])

        try saveProfile(daemon, "demo", "--extension", "io.culvert.wireguard", "--always-on")
        let status = try culvertctl(["--socket", daemon.socketPath, "status"])
        XCTAssertEqual(
            Array(status.stdoutLines[3...]).map(Self.sessionsRootNamed),
            [
                "seq       2", "profiles  1",
                "  NAME  EXTENSION             ALWAYS-ON  OPTIONS  SECRETS",
                "  demo  io.culvert.wireguard  yes        0        -",
                "extensions  none",
                "sessions  none",
                "problems  none",
            ] + Self.containmentLines + [
                "connections  at most 4096 (16 reserved for root, 16 for readers), 1024 per uid",
                "  budgets    4 MiB per non-root uid, 16 MiB for all others; partial message 10 s",
                "  root       1 open, 0 B buffered;  message 16 MiB, output 4 MiB, no idle limit",
                "  readers    0 open, 0 B buffered;  message 64 KiB, output 1 MiB, idle 60 s",
                "  others     0 open, 0 B buffered;  message 64 KiB, output 64 KiB, idle 60 s",
            ])

        // Global options work before and after the subcommand.
        for arguments in [["--json", "status"], ["status", "--json"]] {
            let json = try culvertctl(["--socket", daemon.socketPath] + arguments)
            XCTAssertEqual(json.status, 0)
            let object = try jsonObject(json.stdout)
            XCTAssertEqual(object["seq"] as? Int, 2)
            XCTAssertEqual((object["daemon"] as? [String: Any])?["epoch"] as? String, epoch)
            XCTAssertEqual(((object["profiles"] as? [[String: Any]])?.first)?["extension"] as? String, "io.culvert.wireguard")
            let containment = try XCTUnwrap(object["containment"] as? [String: Any], json.stdout)
            XCTAssertEqual(containment["seccomp"] as? String, "notify")
            XCTAssertEqual(containment["identities"] as? String, "90000-99999")
            // Tests run as root on a machine with cgroups: a daemon that found none would not contain anything.
            XCTAssertNotEqual(containment["cgroups"] as? String, "none", "\(containment)")
        }
    }

    func testSocketComesFromTheEnvironmentWithoutFlag() throws {
        let daemon = try startDaemon(self)
        let result = try culvertctl(["ping"], environment: ["CULVERT_SOCKET": daemon.socketPath])
        XCTAssertEqual(result.status, 0, result.stderr)
        // The flag wins over the environment.
        let overridden = try culvertctl(["--socket", daemon.socketPath, "ping"], environment: ["CULVERT_SOCKET": "/nonexistent/sock"])
        XCTAssertEqual(overridden.status, 0, overridden.stderr)
    }

    // MARK: profiles

    func testProfileLifecycle() throws {
        let daemon = try startDaemon(self)
        let socket = ["--socket", daemon.socketPath]

        let added = try culvertctl(
            socket + [
                "profile", "add", "office", "--extension", "io.culvert.wireguard", "--option", "endpoint=vpn.example.net:51820",
                "--option", "note=a=b", "--secrets-from-stdin",
            ],
            stdin: "# comment\nprivateKey=c2VjcmV0=\n\npsk=xyz\r\n")
        XCTAssertEqual(added.status, 0, added.stderr)
        XCTAssertEqual(added.stdoutLines, ["saved office (created), seq 2"])
        XCTAssertFalse(added.stdout.contains("c2VjcmV0"), "a secret value was echoed")

        let replaced = try culvertctl(
            socket + ["--json", "profile", "add", "office", "--extension", "io.culvert.wireguard", "--always-on"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        let saved = try jsonObject(replaced.stdout)
        XCTAssertEqual(saved["created"] as? Bool, false)
        XCTAssertEqual(saved["seq"] as? Int, 3)
        let savedProfile = try XCTUnwrap(saved["profile"] as? [String: Any])
        XCTAssertEqual(savedProfile["alwaysOn"] as? Bool, true)
        XCTAssertEqual(savedProfile["secretNames"] as? [String], ["privateKey", "psk"], "secrets are kept without --secrets-from-stdin")

        try saveProfile(daemon, "home", "--extension", "io.example.vpn")
        let list = try culvertctl(socket + ["profile", "list"])
        XCTAssertEqual(list.status, 0)
        XCTAssertEqual(
            list.stdoutLines,
            [
                "NAME    EXTENSION             ALWAYS-ON  OPTIONS  SECRETS",
                "home    io.example.vpn        no         0        -",
                "office  io.culvert.wireguard  yes        0        privateKey,psk",
            ])
        let listJSON = try culvertctl(socket + ["profile", "list", "--json"])
        let profiles = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(listJSON.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(profiles.map { $0["name"] as? String }, ["home", "office"])

        try saveProfile(
            daemon, "office", "--extension", "io.culvert.wireguard", "--option", "endpoint=vpn.example.net:51820", "--option", "mtu=1420")
        let show = try culvertctl(socket + ["profile", "show", "office"])
        XCTAssertEqual(show.status, 0)
        XCTAssertEqual(
            show.stdoutLines,
            [
                "name       office",
                "extension  io.culvert.wireguard",
                "always-on  no",
                "options    endpoint=vpn.example.net:51820",
                "           mtu=1420",
                "secrets    privateKey, psk",
            ])
        let showJSON = try jsonObject(try culvertctl(socket + ["profile", "show", "office", "--json"]).stdout)
        XCTAssertEqual((showJSON["options"] as? [String: String])?["mtu"], "1420")

        let removed = try culvertctl(socket + ["profile", "remove", "office"])
        XCTAssertEqual(removed.status, 0)
        XCTAssertEqual(removed.stdoutLines, ["removed office, seq 6"])
        let removedJSON = try jsonObject(try culvertctl(socket + ["--json", "profile", "remove", "home"]).stdout)
        XCTAssertEqual(removedJSON["name"] as? String, "home")
        XCTAssertEqual(removedJSON["seq"] as? Int, 7)

        for command in [["profile", "show", "office"], ["profile", "remove", "office"]] {
            let missing = try culvertctl(socket + command)
            XCTAssertEqual(missing.status, 66, "\(command)")
            XCTAssertEqual(missing.stdout, "")
            XCTAssertEqual(
                missing.stderrLines, [#"culvertctl: error: no profile named "office" (`culvertctl profile list` shows the profiles)"#])
        }
        let missingJSON = try culvertctl(socket + ["--json", "profile", "show", "office"])
        XCTAssertEqual(missingJSON.status, 66)
        XCTAssertEqual((try jsonObject(missingJSON.stderr)["error"] as? [String: Any])?["code"] as? String, "profile_not_found")
    }

    func testRefusedInputExits65() throws {
        let daemon = try startDaemon(self)
        let socket = ["--socket", daemon.socketPath]
        let badName = try culvertctl(socket + ["profile", "add", "bad name", "--extension", "io.culvert.wireguard"])
        XCTAssertEqual(badName.status, 65)
        XCTAssertEqual(badName.stderrLines.count, 1)
        XCTAssertTrue(badName.stderr.hasPrefix("culvertctl: error: invalid profile: name: invalid characters ("), badName.stderr)

        let badExtension = try culvertctl(socket + ["--json", "profile", "add", "ok", "--extension", "nodots"])
        XCTAssertEqual(badExtension.status, 65)
        let error = try XCTUnwrap(try jsonObject(badExtension.stderr)["error"] as? [String: Any])
        XCTAssertEqual(error["code"] as? String, "invalid_profile")
        XCTAssertEqual(error["message"] as? String, "invalid profile: extension: invalid characters")

        let badSecrets = try culvertctl(
            socket + ["profile", "add", "ok", "--extension", "io.culvert.wireguard", "--secrets-from-stdin"],
            stdin: "privateKey=x\nnovalue\n")
        XCTAssertEqual(badSecrets.status, 65)
        XCTAssertTrue(badSecrets.stderr.hasPrefix("culvertctl: error: standard input line 2: expected KEY=VALUE"), badSecrets.stderr)

        // Nothing refused was stored.
        XCTAssertEqual(try culvertctl(socket + ["profile", "list"]).stdoutLines, ["no profiles"])
    }

    func testNonRootIsDeniedWith77() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            throw XCTSkip("needs root and setpriv to run culvertctl as another user")
        }
        let daemon = try startDaemon(self)
        // The private test directory is 0700; let "nobody" reach the (0666) socket so the daemon decides.
        XCTAssertEqual(chmod(daemon.root, 0o755), 0)
        let asNobody = [
            "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", Products.path(of: "culvertctl"),
            "--socket", daemon.socketPath,
        ]
        let status = try run(asNobody + ["status"])
        XCTAssertEqual(status.status, 77, status.stderr)
        XCTAssertTrue(status.stderr.hasPrefix("culvertctl: error: permission denied for GetStatus ("), status.stderr)
        let remove = try run(asNobody + ["profile", "remove", "x"])
        XCTAssertEqual(remove.status, 77)
        let watch = try run(asNobody + ["watch", "--json"])
        XCTAssertEqual(watch.status, 77, "watch is invalidated, not retried, on permission denied")
        XCTAssertEqual(try jsonObject(watch.stdout)["cause"] as? String, "permission_denied")
    }

    // MARK: watch

    func testWatchPrintsEventsAndExitsAfterCount() throws {
        let daemon = try startDaemon(self)
        let watch = try BackgroundCommand([Products.path(of: "culvertctl"), "--socket", daemon.socketPath, "watch", "--count", "2"])
        defer { watch.kill() }
        let snapshotLine = try watch.waitForLine { $0.hasPrefix("seq 1  snapshot") }
        let epoch = try culvertctlPingEpoch(daemon)
        XCTAssertEqual(snapshotLine, "seq 1  snapshot  0 profiles  (epoch \(epoch))")

        try saveProfile(daemon, "demo", "--extension", "io.culvert.wireguard")
        XCTAssertEqual(try culvertctl(["--socket", daemon.socketPath, "profile", "remove", "demo"]).status, 0)
        let result = try watch.wait()
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdoutLines
        XCTAssertEqual(lines.count, 3, result.stdout)
        XCTAssertTrue(
            lines[1].range(of: #"^seq 2  profile_saved  demo  \(created, by uid \d+ pid \d+ culvertctl\)$"#, options: .regularExpression)
                != nil,
            lines[1])
        XCTAssertTrue(
            lines[2].range(of: #"^seq 3  profile_removed  demo  \(by uid \d+ pid \d+ culvertctl\)$"#, options: .regularExpression) != nil,
            lines[2])
    }

    func testWatchJSONResumesFromPositionWithExactlyTheMissedEvents() throws {
        let daemon = try startDaemon(self)
        let epoch = try culvertctlPingEpoch(daemon)
        try saveProfile(daemon, "a", "--extension", "io.culvert.test")  // seq 2: the position we resume after
        for name in ["b", "c", "d"] { try saveProfile(daemon, name, "--extension", "io.culvert.test") }  // 3, 4, 5

        let result = try culvertctl(["--socket", daemon.socketPath, "--json", "watch", "--since", "2", "--epoch", epoch, "--count", "3"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let objects = try result.stdoutLines.map { try jsonObject($0) }
        XCTAssertEqual(objects.count, 4, result.stdout)
        XCTAssertEqual(objects[0]["type"] as? String, "resumed")
        XCTAssertEqual(objects[0]["how"] as? String, "replayed")
        XCTAssertEqual(objects[0]["count"] as? Int, 3)
        XCTAssertEqual(objects[0]["seq"] as? Int, 2, "resumed after the --since position")
        let events = objects.dropFirst().map { $0["event"] as? [String: Any] }
        XCTAssertEqual(objects.dropFirst().map { $0["type"] as? String }, ["event", "event", "event"])
        XCTAssertEqual(events.map { $0?["seq"] as? Int }, [3, 4, 5])
        XCTAssertEqual(events.map { ($0?["profile"] as? [String: Any])?["name"] as? String }, ["b", "c", "d"])
        XCTAssertEqual(events.map { $0?["epoch"] as? String }, [epoch, epoch, epoch])

        // A position from another epoch resyncs with a snapshot (printed, not counted).
        let resync = try BackgroundCommand([
            Products.path(of: "culvertctl"), "--socket", daemon.socketPath, "watch", "--since", "2", "--epoch",
            "0123456789abcdef0123456789abcdef", "--count", "1",
        ])
        defer { resync.kill() }
        _ = try resync.waitForLine { $0.hasPrefix("seq 5  snapshot") }
        try saveProfile(daemon, "e", "--extension", "io.culvert.test")
        let other = try resync.wait()
        XCTAssertEqual(other.status, 0, other.stderr)
        XCTAssertEqual(other.stdoutLines.count, 3, other.stdout)
        XCTAssertEqual(other.stdoutLines.first, "resynced from a snapshot (other_epoch)")
        XCTAssertEqual(other.stdoutLines.dropFirst().first, "seq 5  snapshot  4 profiles  (epoch \(epoch))")
        XCTAssertTrue(other.stdoutLines.last?.hasPrefix("seq 6  profile_saved  e  (created, by uid ") == true, other.stdout)
    }

    func testWatchReportsInterruptionAndResyncsAcrossADaemonCrash() throws {
        let daemon = try startDaemon(self)
        let watch = try BackgroundCommand([Products.path(of: "culvertctl"), "--socket", daemon.socketPath, "watch", "--count", "1"])
        defer { watch.kill() }
        _ = try watch.waitForLine { $0.hasPrefix("seq 1  snapshot") }
        daemon.crash()
        _ = try watch.waitForLine { $0 == "interrupted: connection closed by the daemon, reconnecting…" }
        try daemon.start()
        _ = try watch.waitForLine { $0 == "resynced from a snapshot (other_epoch)" }
        let epoch = try culvertctlPingEpoch(daemon)
        _ = try watch.waitForLine { $0 == "seq 1  snapshot  0 profiles  (epoch \(epoch))" }
        try saveProfile(daemon, "after", "--extension", "io.culvert.test")
        let result = try watch.wait()
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdoutLines.count, 5, result.stdout)
        XCTAssertTrue(result.stdoutLines[4].hasPrefix("seq 2  profile_saved  after  (created, "), result.stdout)
        XCTAssertEqual(result.stderr, "", "transient trouble is not an error")
    }

    // MARK: helpers

    private func culvertctlPingEpoch(_ daemon: DaemonProcess) throws -> String {
        let ping = try culvertctl(["--socket", daemon.socketPath, "--json", "ping"])
        XCTAssertEqual(ping.status, 0, ping.stderr)
        return try XCTUnwrap(try jsonObject(ping.stdout)["epoch"] as? String)
    }

    private func saveProfile(
        _ daemon: DaemonProcess, _ name: String, _ arguments: String..., file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let result = try culvertctl(["--socket", daemon.socketPath, "profile", "add", name] + arguments)
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
    }

    /// Runs culvertctl to completion.
    private func culvertctl(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> CommandResult {
        try run([Products.path(of: "culvertctl")] + arguments, stdin: stdin, environment: environment)
    }

    private func run(_ argv: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> CommandResult {
        let command = try BackgroundCommand(argv, stdin: stdin, environment: environment)
        defer { command.kill() }
        return try command.wait()
    }
}
