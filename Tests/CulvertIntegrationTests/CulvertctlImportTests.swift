// culvertctl profile import against a real culvertd: a wg0.conf becomes an io.culvert.wireguard
// profile with its keys as secrets only; every refusal names its line and saves nothing.

import CulvertTesting
import Foundation
import XCTest

final class CulvertctlImportTests: XCTestCase {
    // Fixed byte patterns in base64, not real keys.
    private static let privateKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    private static let peerKey = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
    private static let presharedKey = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8="

    private static let wg0 = """
        [Interface]  # office
        PrivateKey = \(privateKey)
        Address = 10.8.0.2/24
        Address = fd00:8::2/64
        DNS = 10.8.0.1, corp.example.com
        MTU = 1420

        [Peer]
        PublicKey = \(peerKey)
        PresharedKey = \(presharedKey)
        Endpoint = 192.0.2.10:51820
        AllowedIPs = 0.0.0.0/0, ::/0
        PersistentKeepalive = 25

        """

    func testImportThenShowHasTheOptionsAndOnlySecretNames() throws {
        let daemon = try startDaemon(self)
        let directory = try TemporaryDirectory(prefix: "culvertctl-import")
        defer { directory.remove() }
        let file = directory.file("wg0.conf")
        try Data(Self.wg0.utf8).write(to: URL(fileURLWithPath: file))
        let socket = ["--socket", daemon.socketPath]

        let imported = try culvertctl(socket + ["profile", "import", file])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        XCTAssertEqual(imported.stdoutLines, ["imported \(file) as wg0 (created): 1 peer, secrets peer.0.preshared-key,private-key, seq 2"])

        let show = try culvertctl(socket + ["profile", "show", "wg0", "--json"])
        XCTAssertEqual(show.status, 0, show.stderr)
        let profile = try jsonObject(show.stdout)
        XCTAssertEqual(profile["extension"] as? String, "io.culvert.wireguard")
        XCTAssertEqual(
            profile["options"] as? [String: String],
            [
                "address": "10.8.0.2/24,fd00:8::2/64", "dns": "10.8.0.1", "dns-search": "corp.example.com", "mtu": "1420",
                "peer.0.public-key": Self.peerKey, "peer.0.endpoint": "192.0.2.10:51820", "peer.0.allowed-ips": "0.0.0.0/0,::/0",
                "peer.0.persistent-keepalive": "25",
            ])
        XCTAssertEqual((profile["secretNames"] as? [String])?.sorted(), ["peer.0.preshared-key", "private-key"])
        for output in [imported.stdout, imported.stderr, show.stdout] {
            XCTAssertFalse(output.contains(Self.privateKey) || output.contains(Self.presharedKey), "a secret was shown: \(output)")
        }

        // Again: refused without --replace; with it, replaced (and --json, --name).
        let again = try culvertctl(socket + ["profile", "import", file])
        XCTAssertEqual(again.status, 65)
        XCTAssertEqual(
            again.stderrLines,
            [
                #"culvertctl: error: a profile named "wg0" already exists (give --replace to replace it, or --name to import under another name)"#
            ])
        let replaced = try culvertctl(socket + ["--json", "profile", "import", file, "--replace"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertEqual(try jsonObject(replaced.stdout)["created"] as? Bool, false)
        let named = try culvertctl(socket + ["profile", "import", file, "--name", "office"])
        XCTAssertEqual(named.status, 0, named.stderr)
        XCTAssertEqual(try profileNames(daemon), ["office", "wg0"])
    }

    func testEveryRefusalNamesItsLineAndSavesNothing() throws {
        let daemon = try startDaemon(self)
        let directory = try TemporaryDirectory(prefix: "culvertctl-import")
        defer { directory.remove() }
        let socket = ["--socket", daemon.socketPath]
        let body = Self.wg0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Line 6 (MTU) replaced by each refused line; the rest of wg0 is valid.
        let cases: [(line: String, code: String, message: String)] = [
            ("PostUp = iptables -t nat -A POSTROUTING -j MASQUERADE", "runs_command", "PostUp is refused"),
            ("preup = touch /tmp/owned", "runs_command", "preup is refused"),
            ("PreDown = true", "runs_command", "PreDown is refused"),
            ("PostDown = true", "runs_command", "PostDown is refused"),
            ("SaveConfig = false", "saves_config", "SaveConfig is refused"),
            ("Table = 51820", "routing_table", "Table is refused unless off or auto"),
            ("FwMark = 0xca6c", "firewall_mark", "FwMark is refused unless off or 0"),
            ("Frobnicate = yes", "unknown_key", "Frobnicate is not a key of [Interface]"),
            ("MTU = 99999", "invalid_value", "MTU must be a whole number 576–65535"),
            ("PrivateKey = \(Self.privateKey)", "duplicate_key", "PrivateKey is given twice in this section"),
        ]
        for (index, refused) in cases.enumerated() {
            var lines = body
            lines[5] = refused.line
            let file = directory.file("bad\(index).conf")
            try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: file))
            let result = try culvertctl(socket + ["profile", "import", file])
            XCTAssertEqual(result.status, 65, "\(refused.line): \(result.stderr)")
            XCTAssertEqual(result.stdout, "")
            XCTAssertTrue(result.stderr.hasPrefix("culvertctl: error: \(file) line 6: \(refused.message)"), result.stderr)
            XCTAssertFalse(result.stderr.contains(Self.privateKey), result.stderr)
            let json = try culvertctl(socket + ["--json", "profile", "import", file])
            XCTAssertEqual(json.status, 65)
            let error = try XCTUnwrap(try jsonObject(json.stderr)["error"] as? [String: Any])
            XCTAssertEqual(error["code"] as? String, refused.code, refused.line)
            XCTAssertTrue((error["message"] as? String)?.contains("line 6") == true, "\(error)")
        }
        let hostName = directory.file("host.conf")
        try Data(Self.wg0.replacingOccurrences(of: "192.0.2.10:51820", with: "vpn.example.net:51820").utf8)
            .write(to: URL(fileURLWithPath: hostName))
        let refusedHost = try culvertctl(socket + ["--json", "profile", "import", hostName])
        XCTAssertEqual(refusedHost.status, 65)
        XCTAssertEqual((try jsonObject(refusedHost.stderr)["error"] as? [String: Any])?["code"] as? String, "endpoint_host_name")
        try assertNothingSaved(daemon)
    }

    func testHostileFilesAreRefusedAndNothingIsSaved() throws {
        let daemon = try startDaemon(self)
        let directory = try TemporaryDirectory(prefix: "culvertctl-import")
        defer { directory.remove() }
        let socket = ["--socket", daemon.socketPath]
        func write(_ name: String, _ bytes: [UInt8]) throws -> String {
            let path = directory.file(name)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        var tenThousandPeers = Self.wg0
        for _ in 0..<10_000 { tenThousandPeers += "[Peer]\nPublicKey = \(Self.peerKey)\n" }
        let fifo = directory.file("fifo.conf")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let link = directory.file("link.conf")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: try write("target.conf", Array(Self.wg0.utf8)))
        let cases: [(path: String, status: Int32, code: String)] = [
            (try write("huge.conf", [UInt8](repeating: UInt8(ascii: "#"), count: (1 << 20) + 1)), 65, "input_too_large"),
            (try write("nul.conf", Array("[Interface]\nAddress = 10.0.0.1\u{0}\n".utf8)), 65, "control_character"),
            (try write("utf8.conf", Array("[Interface]\n# ".utf8) + [0xFF, 0xC0, 0x80]), 65, "invalid_utf8"),
            (try write("longline.conf", Array(("[Interface]\n" + String(repeating: "x", count: 1_000_000)).utf8)), 65, "malformed_line"),
            (try write("peers.conf", Array(tenThousandPeers.utf8)), 65, "too_large_for_profile"),
            (fifo, 65, "not_a_regular_file"),
            (link, 65, "not_a_regular_file"),
            (directory.path, 65, "not_a_regular_file"),
            (directory.file("absent.conf"), 66, "file_not_found"),
        ]
        for (path, status, code) in cases {
            let result = try culvertctl(socket + ["--json", "profile", "import", path, "--name", "hostile"])
            XCTAssertEqual(result.status, status, "\(path): \(result.stderr)")
            XCTAssertEqual((try jsonObject(result.stderr)["error"] as? [String: Any])?["code"] as? String, code, path)
        }
        let badName = try culvertctl(socket + ["profile", "import", try write("-bad name.conf", Array(Self.wg0.utf8))])
        XCTAssertEqual(badName.status, 65)
        XCTAssertTrue(badName.stderr.contains("give one with --name"), badName.stderr)
        try assertNothingSaved(daemon)
    }

    func testHelpIsAManPage() throws {
        let help = try culvertctl(["profile", "import", "--help"])
        XCTAssertEqual(help.status, 0)
        for text in [
            "OVERVIEW: Import a wg-quick", "PostUp", "SaveConfig", "--replace", "--name <name>", "EXAMPLES\n  culvertctl profile import",
        ] {
            XCTAssertTrue(help.stdout.contains(text), "import --help lacks \(text):\n\(help.stdout)")
        }
    }

    private func assertNothingSaved(_ daemon: DaemonProcess, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try profileNames(daemon), [], file: file, line: line)
        let ping = try culvertctl(["--socket", daemon.socketPath, "--json", "ping"])
        XCTAssertEqual(try jsonObject(ping.stdout)["seq"] as? Int, 1, "an event was recorded", file: file, line: line)
    }

    private func profileNames(_ daemon: DaemonProcess) throws -> [String] {
        let list = try culvertctl(["--socket", daemon.socketPath, "--json", "profile", "list"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let profiles = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        return profiles.compactMap { $0["name"] as? String }.sorted()
    }

    private func culvertctl(_ arguments: [String]) throws -> CommandResult {
        let command = try BackgroundCommand([Products.path(of: "culvertctl")] + arguments)
        defer { command.kill() }
        return try command.wait()
    }
}
