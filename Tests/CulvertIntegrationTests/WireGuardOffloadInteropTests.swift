// WireGuardOffloadInteropTests: culvert-wireguard from a bundle declaring `tun-offload` (a TUN with
// IFF_VNET_HDR: TSO super-packets split before sealing, opened packets coalesced on the way back,
// UDP GSO sends and GRO receives) against Debian's wireguard-go: ping, a full-MTU packet with DF,
// iperf3 TCP both ways and a bounded UDP stream, every wireguard-go message authenticating. Root;
// private namespaces torn down by the lab even when a test fails.

import CulvertBundle
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class WireGuardOffloadInteropTests: XCTestCase {
    /// IFF_VNET_HDR in /sys/class/net/<ifname>/tun_flags.
    static let virtioHeaderFlag = 0x4000
    static let iperfSeconds = 2
    /// TCP must move at least this much in `iperfSeconds` (the debug build does far more).
    static let minimumTCPBytes = 1_000_000
    /// The UDP stream's rate: bounded, well below what the debug-built path carries.
    static let udpRate = "30M"
    /// UDP loss allowed (percent): a short burst lost to scheduling on a loaded 2-core machine, not a broken path.
    static let maximumUDPLossPercent = 5.0
    /// How long the one-shot iperf3 server may take to listen.
    static let serverListenDeadline: TimeInterval = 10

    func testOffloadingProviderCarriesTCPBothWaysAndUDPWithWireguardGo() throws {
        let tunnel = try TunnelLab(test: self, startPeer: false)
        let lab = try WireGuardLab(lab: tunnel, capabilities: [.tunOffload])
        addTeardownBlock { lab.tearDown() }
        let file = tunnel.directory.path + "/wg.conf"
        XCTAssertTrue(
            FileManager.default.createFile(atPath: file, contents: Data(lab.wgQuickFileA().utf8), attributes: [.posixPermissions: 0o600]))
        let imported = try culvertctl(lab, ["profile", "import", file, "--name", "wg"])
        XCTAssertEqual(imported.status, 0, imported.stderr)

        let reply = try tunnel.connect("wg")
        XCTAssertEqual(reply["session"]?["state"]?.stringValue, "connected", "\(reply)" + log(lab))
        let interface = try XCTUnwrap(reply["session"]?["interface"]?.stringValue)
        let flags = try tunnel.inA(["cat", "/sys/class/net/\(interface)/tun_flags"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual((Int(flags.dropFirst(2), radix: 16) ?? 0) & Self.virtioHeaderFlag, Self.virtioHeaderFlag, flags)
        XCTAssertTrue(
            try tunnel.sessionLog("wg").contains { $0.contains("data plane: TUN with virtio_net_hdr") }, "offloading data plane" + log(lab))

        let ping = try tunnel.inA(["ping", "-c", "3", "-i", "0.2", "-W", "5", WireGuardLab.tunnelAddressB])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error + log(lab))
        let full = try tunnel.inA(["ping", "-c", "3", "-i", "0.2", "-M", "do", "-s", "1392", "-W", "5", WireGuardLab.tunnelAddressB])
        XCTAssertEqual(full.status, 0, full.output + full.error + log(lab))

        let forward = try iperf(lab, [])
        XCTAssertGreaterThan(bytes(forward, "sum_received"), Self.minimumTCPBytes, "TCP A → B: \(forward.suffix(1500))" + log(lab))
        let reverse = try iperf(lab, ["-R"])
        XCTAssertGreaterThan(bytes(reverse, "sum_received"), Self.minimumTCPBytes, "TCP B → A: \(reverse.suffix(1500))" + log(lab))
        let udp = try iperf(lab, ["-u", "-b", Self.udpRate, "-l", "1200"])
        let sum = try XCTUnwrap(end(udp)?["sum"] as? [String: Any], udp.suffix(1500).description)
        XCTAssertGreaterThan((sum["packets"] as? NSNumber)?.intValue ?? 0, 1_000, "UDP datagrams sent: \(udp.suffix(1500))")
        XCTAssertLessThan(
            (sum["lost_percent"] as? NSNumber)?.doubleValue ?? 100, Self.maximumUDPLossPercent, "UDP loss: \(udp.suffix(1500))")

        let status = try statusOf(lab)
        let drops = status["drops"] as? [String: Int]
        XCTAssertNotNil(drops, "\(status)")
        for reason in ["authenticationFailed", "replayedCounter", "disallowedSource", "malformed", "malformedInnerPacket"] {
            XCTAssertNil(drops?[reason], "wireguard-go's messages all authenticate and parse: \(String(describing: drops))")
        }
        let containment = try tunnel.session("wg")?["containment"]
        XCTAssertEqual(containment?["deniedCalls"]?.intValue, 0, "no system call refused: \(String(describing: containment))" + log(lab))
    }

    // MARK: helpers

    /// `iperf3 -c 10.66.0.2 -t iperfSeconds -J` plus `extra` from A against a one-shot server in B; its JSON.
    private func iperf(_ lab: WireGuardLab, _ extra: [String]) throws -> String {
        let log = lab.lab.directory.path + "/iperf-server.log"
        let server = try lab.lab.namespaces.spawn(
            in: lab.lab.namespaces.b, ["iperf3", "-s", "-1", "--forceflush", "-B", WireGuardLab.tunnelAddressB], output: log)
        defer {
            if server.isRunning {
                server.terminate()
                server.waitUntilExit()
            }
        }
        let deadline = Date().addingTimeInterval(Self.serverListenDeadline)
        while Date() < deadline {
            // try?: not written yet; retry.
            if let text = try? String(contentsOfFile: log, encoding: .utf8), text.contains("listening") { break }
            usleep(20_000)
        }
        let run = try lab.lab.inA(
            ["iperf3", "-c", WireGuardLab.tunnelAddressB, "-t", String(Self.iperfSeconds), "-J"] + extra, timeout: 40)
        XCTAssertEqual(run.status, 0, "iperf3 \(extra): \(run.output.suffix(1500)) \(run.error)")
        return run.output
    }

    private func end(_ json: String) -> [String: Any]? {
        // try?: unparsable output fails the caller's assertions.
        ((try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any])?["end"] as? [String: Any]
    }

    private func bytes(_ json: String, _ key: String) -> Int {
        ((end(json)?[key] as? [String: Any])?["bytes"] as? NSNumber)?.intValue ?? 0
    }

    private func statusOf(_ lab: WireGuardLab) throws -> [String: Any] {
        let reply = try culvertctl(lab, ["message", "wg", "status"])
        XCTAssertEqual(reply.status, 0, reply.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(reply.stdout.utf8)) as? [String: Any]
        XCTAssertNotNil(object, reply.stdout)
        return object ?? [:]
    }

    private func log(_ lab: WireGuardLab) -> String {
        // try?: only for failure messages.
        "\nsession log:\n" + ((try? lab.lab.sessionLog("wg").joined(separator: "\n")) ?? "?") + "\nwireguard-go:\n" + lab.wireguardGoLog
    }

    private func culvertctl(_ lab: WireGuardLab, _ arguments: [String]) throws -> CommandResult {
        let command = try BackgroundCommand([Products.path(of: "culvertctl"), "--socket", lab.lab.daemon.socketPath] + arguments)
        defer { command.kill() }
        return try command.wait()
    }
}
