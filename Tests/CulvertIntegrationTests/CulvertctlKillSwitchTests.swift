// culvertctl's kill switch options against a real culvertd: `profile add --kill-switch
// [--kill-switch-allow CIDR]...`, `profile show` (text and JSON), and the refusals (a prefix that
// is not one: 65; an exception without the kill switch: 64).

import CulvertTesting
import Foundation
import XCTest

final class CulvertctlKillSwitchTests: XCTestCase {
    func testProfileAddAndShowTheKillSwitch() throws {
        let daemon = try startDaemon(self)
        let socket = ["--socket", daemon.socketPath]
        let added = try culvertctl(
            socket + [
                "profile", "add", "office", "--extension", "io.culvert.wireguard", "--kill-switch", "--kill-switch-allow",
                "192.168.1.0/24", "--kill-switch-allow", "fd00:1::/64",
            ])
        XCTAssertEqual(added.status, 0, added.stderr)
        let show = try culvertctl(socket + ["profile", "show", "office"])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(
            show.stdoutLines.contains("kill-switch  yes, allowing 192.168.1.0/24, fd00:1::/64, fe80::/10 (always)"), show.stdout)
        let json = try jsonObject(try culvertctl(socket + ["--json", "profile", "show", "office"]).stdout)
        XCTAssertEqual(json["killSwitch"] as? Bool, true)
        XCTAssertEqual(json["killSwitchAllow"] as? [String], ["192.168.1.0/24", "fd00:1::/64"])

        // Replacing the profile without the flag turns it off; `show` then says nothing about it.
        XCTAssertEqual(try culvertctl(socket + ["profile", "add", "office", "--extension", "io.culvert.wireguard"]).status, 0)
        let off = try culvertctl(socket + ["profile", "show", "office"])
        XCTAssertFalse(off.stdout.contains("kill-switch"), off.stdout)
        let offJSON = try jsonObject(try culvertctl(socket + ["--json", "profile", "show", "office"]).stdout)
        XCTAssertNil(offJSON["killSwitch"], "off is not written")
    }

    func testRefusedExceptions() throws {
        let daemon = try startDaemon(self)
        let socket = ["--socket", daemon.socketPath]
        let hostBits = try culvertctl(
            socket + [
                "--json", "profile", "add", "ok", "--extension", "io.culvert.wireguard", "--kill-switch", "--kill-switch-allow",
                "10.0.0.1/8",
            ])
        XCTAssertEqual(hostBits.status, 65, hostBits.stderr)
        let error = try XCTUnwrap(try jsonObject(hostBits.stderr)["error"] as? [String: Any])
        XCTAssertEqual(error["code"] as? String, "invalid_profile")
        XCTAssertTrue((error["message"] as? String ?? "").contains("killSwitchAllow[0]"), "\(error)")

        let withoutSwitch = try culvertctl(
            socket + ["profile", "add", "ok", "--extension", "io.culvert.wireguard", "--kill-switch-allow", "10.0.0.0/8"])
        XCTAssertEqual(withoutSwitch.status, 64, withoutSwitch.stderr)
        XCTAssertEqual(try culvertctl(socket + ["profile", "list"]).stdoutLines, ["no profiles"], "nothing refused was stored")
    }

    private func culvertctl(_ arguments: [String]) throws -> CommandResult {
        let command = try BackgroundCommand([Products.path(of: "culvertctl")] + arguments)
        defer { command.kill() }
        return try command.wait()
    }
}
