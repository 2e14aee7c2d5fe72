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
    /// TCP must move at least this much in `TunnelLab.iperfSeconds` (the debug build does far more).
    static let minimumTCPBytes = 1_000_000
    /// The UDP stream's rate: bounded, well below what the debug-built path carries.
    static let udpRate = "30M"
    /// UDP loss allowed (percent): a short burst lost to scheduling on a loaded 2-core machine, not a broken path.
    static let maximumUDPLossPercent = 5.0

    func testOffloadingProviderCarriesTCPBothWaysAndUDPWithWireguardGo() throws {
        let tunnel = try TunnelLab(test: self, startPeer: false)
        let lab = try WireGuardLab(lab: tunnel, capabilities: [.tunOffload])
        addTeardownBlock { lab.tearDown() }
        try lab.importProfile()

        let reply = try tunnel.connect("wg")
        XCTAssertEqual(reply["session"]?["state"]?.stringValue, "connected", "\(reply)" + lab.failureLog)
        let interface = try XCTUnwrap(reply["session"]?["interface"]?.stringValue)
        let flags = try tunnel.inA(["cat", "/sys/class/net/\(interface)/tun_flags"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual((Int(flags.dropFirst(2), radix: 16) ?? 0) & Self.virtioHeaderFlag, Self.virtioHeaderFlag, flags)
        XCTAssertTrue(
            try tunnel.sessionLog("wg").contains { $0.contains("data plane: TUN with virtio_net_hdr") },
            "offloading data plane" + lab.failureLog)

        let ping = try tunnel.inA(["ping", "-c", "3", "-i", "0.2", "-W", "5", WireGuardLab.tunnelAddressB])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error + lab.failureLog)
        let full = try tunnel.inA(["ping", "-c", "3", "-i", "0.2", "-M", "do", "-s", "1392", "-W", "5", WireGuardLab.tunnelAddressB])
        XCTAssertEqual(full.status, 0, full.output + full.error + lab.failureLog)

        let forward = try tunnel.iperf(to: WireGuardLab.tunnelAddressB, [])
        XCTAssertGreaterThan(
            IperfJSON.bytes(forward, "sum_received"), Self.minimumTCPBytes, "TCP A → B: \(forward.suffix(1500))" + lab.failureLog)
        let reverse = try tunnel.iperf(to: WireGuardLab.tunnelAddressB, ["-R"])
        XCTAssertGreaterThan(
            IperfJSON.bytes(reverse, "sum_received"), Self.minimumTCPBytes, "TCP B → A: \(reverse.suffix(1500))" + lab.failureLog)
        let udp = try tunnel.iperf(to: WireGuardLab.tunnelAddressB, ["-u", "-b", Self.udpRate, "-l", "1200"])
        let sum = try XCTUnwrap(IperfJSON.end(udp)?["sum"] as? [String: Any], udp.suffix(1500).description)
        XCTAssertGreaterThan((sum["packets"] as? NSNumber)?.intValue ?? 0, 1_000, "UDP datagrams sent: \(udp.suffix(1500))")
        XCTAssertLessThan(
            (sum["lost_percent"] as? NSNumber)?.doubleValue ?? 100, Self.maximumUDPLossPercent, "UDP loss: \(udp.suffix(1500))")

        let status = try lab.providerStatus()
        let drops = status["drops"] as? [String: Int]
        XCTAssertNotNil(drops, "\(status)")
        for reason in ["authenticationFailed", "replayedCounter", "disallowedSource", "malformed", "malformedInnerPacket"] {
            XCTAssertNil(drops?[reason], "wireguard-go's messages all authenticate and parse: \(String(describing: drops))")
        }
        let containment = try tunnel.session("wg")?["containment"]
        XCTAssertEqual(
            containment?["deniedCalls"]?.intValue, 0, "no system call refused: \(String(describing: containment))" + lab.failureLog)
    }
}
