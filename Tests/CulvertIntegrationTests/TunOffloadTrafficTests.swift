// Tunnel e2e with offloads (issue 13 acceptance): a bundle declaring `tun-offload` (its TUN created
// with IFF_VNET_HDR, the test provider relaying through PacketFlow's offloads and UDP GSO/GRO) and a
// peer offloading likewise carry iperf3 TCP both ways and a bounded-rate UDP stream; Disconnect
// leaves namespace A's `ip -j` state exactly as before Connect.

import CulvertBundle
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class TunOffloadTrafficTests: XCTestCase {
    /// IFF_VNET_HDR in tun_flags.
    static let virtioHeaderFlag = 0x4000
    /// TCP must move at least this much in `TunnelLab.iperfSeconds` (the debug build does hundreds of Mbit/s).
    static let minimumTCPBytes = 1_000_000
    /// The UDP stream's rate: bounded, well below what the debug-built path carries.
    static let udpRate = "50M"
    /// UDP loss allowed (percent): a short burst lost to scheduling on a loaded 2-core machine, not a broken path.
    static let maximumUDPLossPercent = 5.0

    func testOffloadedTunnelCarriesTCPBothWaysAndUDPAndDisconnectRestoresEverything() throws {
        let h = try TunnelLab(peerOptions: .offloading)
        addTeardownBlock { h.tearDown() }
        try h.installTestProvider(version: "1.1.0", capabilities: [.tunOffload])
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let before = try h.networkStateA()

        let reply = try h.connect("lab")
        XCTAssertEqual(reply["session"]?["state"]?.stringValue, "connected")
        let interface = try XCTUnwrap(reply["session"]?["interface"]?.stringValue)
        let flags = try h.inA(["cat", "/sys/class/net/\(interface)/tun_flags"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual((Int(flags.dropFirst(2), radix: 16) ?? 0) & Self.virtioHeaderFlag, Self.virtioHeaderFlag, flags)
        XCTAssertTrue(h.peerLog.contains("with offloads"), h.peerLog)
        let log = try h.sessionLog("lab")
        XCTAssertTrue(log.contains { $0.contains("relay: TUN with virtio_net_hdr") }, "the provider relays with offloads: \(log)")
        let ping = try h.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error)

        let forward = try h.iperf(to: TunnelLab.behindPeer, [])
        XCTAssertGreaterThan(IperfJSON.bytes(forward, "sum_received"), Self.minimumTCPBytes, "TCP A → B: \(forward.suffix(1500))")
        let reverse = try h.iperf(to: TunnelLab.behindPeer, ["-R"])
        XCTAssertGreaterThan(IperfJSON.bytes(reverse, "sum_received"), Self.minimumTCPBytes, "TCP B → A: \(reverse.suffix(1500))")
        let udp = try h.iperf(to: TunnelLab.behindPeer, ["-u", "-b", Self.udpRate, "-l", "1200"])
        let sum = try XCTUnwrap(IperfJSON.end(udp)?["sum"] as? [String: Any], udp.suffix(1500).description)
        let sent = (sum["packets"] as? NSNumber)?.intValue ?? 0
        let lost = (sum["lost_packets"] as? NSNumber)?.intValue ?? -1
        let lossPercent = (sum["lost_percent"] as? NSNumber)?.doubleValue ?? 100
        XCTAssertGreaterThan(sent, 1_000, "UDP datagrams sent: \(udp.suffix(1500))")
        XCTAssertGreaterThanOrEqual(lost, 0, udp.suffix(1500).description)
        XCTAssertLessThan(lossPercent, Self.maximumUDPLossPercent, "UDP loss through the offloaded tunnel: \(udp.suffix(1500))")
        XCTAssertGreaterThan(IperfJSON.bytes(udp, "sum_received"), 1_000_000, "UDP bytes that arrived: \(udp.suffix(1500))")

        // The provider's relay ran the offloaded path: the session's counters saw the traffic.
        let counted = try h.waitForSession("lab") { ($0["counters"]?["txBytes"]?.intValue ?? 0) > Int64(Self.minimumTCPBytes) }
        XCTAssertGreaterThan(counted?["counters"]?["rxBytes"]?.intValue ?? 0, Int64(Self.minimumTCPBytes))

        let down = try h.disconnect("lab")
        XCTAssertEqual(down["session"]?["state"]?.stringValue, "disconnected")
        try h.assertNetworkState(equals: before, "after Disconnect of the offloading session:")
    }
}
