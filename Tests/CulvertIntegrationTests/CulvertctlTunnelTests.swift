// culvertctl against live tunnels: connect, session list/show/log, message, disconnect, and the
// typed failure of a provider that crashes — the commands an administrator actually types.

import CulvertTesting
import Foundation
import XCTest

final class CulvertctlTunnelTests: XCTestCase {
    func testSessionCommandsOnALiveTunnel() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let socket = ["--socket", h.daemon.socketPath]

        let connect = try culvertctl(socket + ["connect", "lab"])
        XCTAssertEqual(connect.status, 0, connect.stderr)
        XCTAssertTrue(connect.stdout.contains("connected"), connect.stdout)

        let show = try culvertctl(socket + ["--json", "session", "show", "lab"])
        XCTAssertEqual(show.status, 0, show.stderr)
        let session = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        let context = (session["session"] as? [String: Any]) ?? session
        XCTAssertEqual(context["state"] as? String, "connected")
        let uid = try XCTUnwrap(context["uid"] as? Int)
        XCTAssertTrue((90000...99999).contains(uid), "runs under an identity of its own from --provider-uids, not \(uid)")
        let containment = try XCTUnwrap(context["containment"] as? [String: Any], "session show reports containment")
        XCTAssertEqual(containment["deniedCalls"] as? Int, 0, "the test provider makes no call the filter refuses")
        XCTAssertNotNil(context["pid"] as? Int)
        XCTAssertEqual(context["addresses"] as? [String], ["10.77.0.1/24"])
        XCTAssertEqual(context["routes"] as? [String], ["10.99.0.0/24"])
        XCTAssertEqual(context["extensionVersion"] as? String, "1.0.0")
        XCTAssertEqual((context["connectedBy"] as? [String: Any])?["command"] as? String, "culvertctl")
        XCTAssertTrue((context["interface"] as? String ?? "").hasPrefix("cvt"))

        let text = try culvertctl(socket + ["session", "show", "lab"])
        XCTAssertEqual(text.status, 0, text.stderr)
        for field in ["connected", "\(uid)", "10.77.0.1/24", "10.99.0.0/24", "culvertctl", "256 tasks, 256 MiB"]
        where !text.stdout.contains(field) {
            XCTFail("session show lacks \(field):\n\(text.stdout)")
        }
        let refused = text.stdout.split(separator: "\n").first { $0.hasPrefix("refused calls") }
        XCTAssertEqual(refused?.split(separator: " ").last, "0", "session show: \(refused ?? "no refused calls row")")
        let cgroup = try XCTUnwrap(containment["cgroup"] as? String)
        XCTAssertTrue(text.stdout.contains(cgroup), "session show names the cgroup \(cgroup):\n\(text.stdout)")

        let status = try culvertctl(socket + ["status"])
        XCTAssertEqual(status.status, 0, status.stderr)
        for field in ["provider uids  90000-99999", "per session 256 tasks, 256 MiB", "seccomp        on"]
        where !status.stdout.contains(field) {
            XCTFail("status lacks \(field):\n\(status.stdout)")
        }

        let list = try culvertctl(socket + ["session", "list"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.split(separator: "\n").contains { $0.hasPrefix("lab") && $0.contains("connected") }, list.stdout)

        let message = try culvertctl(socket + ["message", "lab", "hello"])
        XCTAssertEqual(message.status, 0, message.stderr)
        XCTAssertEqual(message.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "echo: hello")

        let log = try culvertctl(socket + ["session", "log", "lab", "--lines", "2"])
        XCTAssertEqual(log.status, 0, log.stderr)
        XCTAssertEqual(log.stdout.split(separator: "\n").count, 2, log.stdout)
        XCTAssertTrue(log.stdout.contains("message: hello"), log.stdout)

        let disconnect = try culvertctl(socket + ["disconnect", "lab"])
        XCTAssertEqual(disconnect.status, 0, disconnect.stderr)
        XCTAssertTrue(disconnect.stdout.contains("disconnected"), disconnect.stdout)

        let unavailable = try culvertctl(socket + ["message", "lab", "hello"])
        XCTAssertEqual(unavailable.status, 69, unavailable.stderr)
        XCTAssertTrue(unavailable.stderr.contains("disconnected"), unavailable.stderr)
    }

    func testConnectFailurePrintsTheReasonAndTheProvidersLastLines() throws {
        let h = try TunnelLab(test: self, startPeer: false)
        try h.saveProfile("broken", options: ["behaviour": "crash-on-start"])
        let result = try culvertctl(["--socket", h.daemon.socketPath, "connect", "broken"])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("provider_crashed"), result.stderr)
        XCTAssertTrue(result.stderr.contains("about to crash"), result.stderr)
        let json = try culvertctl(["--socket", h.daemon.socketPath, "--json", "connect", "broken"])
        XCTAssertEqual(json.status, 1)
        XCTAssertTrue(json.stderr.contains("\"log\""), json.stderr)
    }

    /// `extension policy`, a staged install, `extension show`, `extension upgrade --cancel`,
    /// `cancel-upgrade` with nothing staged, `extension upgrade`, with their exit statuses.
    func testUpgradePolicyCommands() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        _ = try h.connect("lab")
        let socket = ["--socket", h.daemon.socketPath]
        let id = TunnelLab.extensionIdentifier

        let bad = try culvertctl(socket + ["extension", "policy", id, "later"])
        XCTAssertEqual(bad.status, 65, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("\"later\" is not an upgrade policy"), bad.stderr)
        let set = try culvertctl(socket + ["extension", "policy", id, "ask"])
        XCTAssertEqual(set.status, 0, set.stderr)
        XCTAssertTrue(set.stdout.hasPrefix("\(id): upgrade policy ask (set for this extension), seq "), set.stdout)
        XCTAssertEqual(try h.installTestProvider(version: "2.0.0")["result"]?.stringValue, "staged")

        let show = try culvertctl(socket + ["extension", "show", id])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdoutLines.contains("state           replacing (upgrade_pending)"), show.stdout)
        XCTAssertTrue(show.stdoutLines.contains("upgrade policy  ask (set for this extension)"), show.stdout)
        XCTAssertTrue(show.stdoutLines.contains { $0.hasPrefix("staged version") && $0.hasSuffix("2.0.0 (1)") }, show.stdout)

        let cancel = try culvertctl(socket + ["extension", "upgrade", id, "--cancel"])
        XCTAssertEqual(cancel.status, 0, cancel.stderr)
        XCTAssertTrue(cancel.stdout.hasPrefix("cancelled: \(id) 1.0.0 (1), enabled"), cancel.stdout)
        let none = try culvertctl(socket + ["extension", "cancel-upgrade", id])
        XCTAssertEqual(none.status, 66, none.stderr)
        XCTAssertTrue(none.stderr.contains("no upgrade of \(id) is staged"), none.stderr)

        XCTAssertEqual(try h.installTestProvider(version: "3.0.0")["result"]?.stringValue, "staged")
        let upgrade = try culvertctl(socket + ["--json", "extension", "upgrade", id])
        XCTAssertEqual(upgrade.status, 0, upgrade.stderr)
        let reply = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(upgrade.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((reply["extension"] as? [String: Any])?["version"] as? String, "3.0.0")
        XCTAssertEqual(try h.session("lab")?["extensionVersion"]?.stringValue, "3.0.0")
        let back = try culvertctl(socket + ["extension", "policy", id, "default"])
        XCTAssertTrue(back.stdout.contains("upgrade policy now (policy.json default)"), back.stdout)
    }

    private func culvertctl(_ arguments: [String]) throws -> CommandResult {
        let command = try BackgroundCommand([Products.path(of: "culvertctl")] + arguments)
        defer { command.kill() }
        return try command.wait()
    }
}
