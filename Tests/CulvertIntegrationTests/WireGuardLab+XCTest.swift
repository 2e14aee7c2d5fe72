// WireGuardLab+XCTest: the helpers the WireGuard integration tests share — culvertctl against the
// lab's daemon, the provider's `status` answer (via culvertctl or SendProviderMessage), and the
// logs for failure messages — one copy instead of one per test file.

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

extension WireGuardLab {
    /// Runs culvertctl against the lab's daemon and waits for it.
    func culvertctl(_ arguments: [String]) throws -> CommandResult {
        let command = try BackgroundCommand([Products.path(of: "culvertctl"), "--socket", lab.daemon.socketPath] + arguments)
        defer { command.kill() }
        return try command.wait()
    }

    /// The provider's answer to `culvertctl message wg status`, parsed; fails the test when culvertctl
    /// fails or the answer is not a JSON object.
    func providerStatus(file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let reply = try culvertctl(["message", "wg", "status"])
        XCTAssertEqual(reply.status, 0, reply.stderr, file: file, line: line)
        let object = try JSONSerialization.jsonObject(with: Data(reply.stdout.utf8)) as? [String: Any]
        XCTAssertNotNil(object, reply.stdout, file: file, line: line)
        return object ?? [:]
    }

    /// Writes `text` (A's wg-quick file unless given) to the lab's directory, mode 0600, and imports
    /// it as profile "wg" with culvertctl; fails the test when either fails.
    func importProfile(_ text: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = lab.directory.path + "/wg.conf"
        XCTAssertTrue(
            FileManager.default.createFile(
                atPath: path, contents: Data((text ?? wgQuickFileA()).utf8), attributes: [.posixPermissions: 0o600]),
            file: file, line: line)
        let imported = try culvertctl(["profile", "import", path, "--name", "wg"])
        XCTAssertEqual(imported.status, 0, imported.stderr, file: file, line: line)
    }

    /// Saves profile "wg" for culvert-wireguard with exactly `options`, and A's private key and the
    /// preshared key as its secrets (SaveProfile).
    func saveProfile(options: [String: String]) throws {
        let secrets = ["private-key": privateKeyA, "peer.0.preshared-key": presharedKey]
        _ = try lab.control.call(
            "io.culvert.Manager.SaveProfile",
            [
                "profile": [
                    "name": .string("wg"), "extension": .string(Self.extensionIdentifier),
                    "options": .object(options.mapValues { .string($0) }), "alwaysOn": .bool(false),
                    "secrets": .object(secrets.mapValues { .string($0) }),
                ]
            ], timeoutMilliseconds: TunnelLab.callMilliseconds)
    }

    /// Session "wg"'s log and wireguard-go's, for failure messages.
    var failureLog: String { lab.failureLog + "\nwireguard-go:\n" + wireguardGoLog }
}

extension TunnelLab {
    /// The answer of profile `profile`'s provider to the message "status" (SendProviderMessage), parsed.
    func providerStatus(_ profile: String = "wg") throws -> [String: Any] {
        let reply = try control.call(
            "io.culvert.Manager.SendProviderMessage",
            ["profile": .string(profile), "data": .string(Data("status".utf8).base64EncodedString())],
            timeoutMilliseconds: TunnelLab.callMilliseconds)
        let data = Data(base64Encoded: reply["data"]?.stringValue ?? "") ?? Data()
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    /// Session "wg"'s log, for failure messages.
    var failureLog: String {
        // try?: only for failure messages (after a daemon crash the lab's control connection is gone).
        "\nsession log:\n" + ((try? sessionLog("wg").joined(separator: "\n")) ?? "?")
    }
}
