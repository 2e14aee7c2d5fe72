// WireGuardIPv6UnderlayTests: culvert-wireguard's outer socket over IPv6 against Debian's
// wireguard-go — the veth between the namespaces gets fd00:200::1/64 (A) and fd00:200::2/64 (B),
// A's profile names B's endpoint as `[fd00:200::2]:51820` and B's wireguard-go names A's as
// `[fd00:200::1]:51821`; each side initiates once, IPv4 and IPv6 ride inside. Root; private
// namespaces torn down even when the test fails.

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class WireGuardIPv6UnderlayTests: XCTestCase {
    static let underlayA = "fd00:200::1"
    static let underlayB = "fd00:200::2"
    /// How culvert-wireguard's status writes B's endpoint (every group, no `::` compression).
    static let statusEndpointB = "[fd00:200:0:0:0:0:0:2]:\(WireGuardLab.portB)"

    func testInteropOverAnIPv6Underlay() throws {
        let tunnel = try TunnelLab(test: self, startPeer: false)
        let lab = try WireGuardLab(lab: tunnel)
        addTeardownBlock { lab.tearDown() }
        let namespaces = tunnel.namespaces
        try namespaces.ip(in: namespaces.a, ["addr", "add", Self.underlayA + "/64", "dev", "veth-a", "nodad"])
        try namespaces.ip(in: namespaces.b, ["addr", "add", Self.underlayB + "/64", "dev", "veth-b", "nodad"])
        try lab.wgInB(["set", lab.interfaceB, "peer", lab.publicKeyA, "endpoint", "[\(Self.underlayA)]:\(WireGuardLab.portA)"])

        let options = [
            "address": "\(WireGuardLab.tunnelAddressA)/24,\(WireGuardLab.tunnelAddress6A)/64", "listen-port": String(WireGuardLab.portA),
            "peer.0.public-key": lab.publicKeyB, "peer.0.endpoint": "[\(Self.underlayB)]:\(WireGuardLab.portB)",
            "peer.0.allowed-ips": "\(WireGuardLab.tunnelAddressB)/32,\(WireGuardLab.tunnelAddress6B)/128",
        ]
        try lab.saveProfile(options: options)
        let reply = try tunnel.connect("wg")
        XCTAssertEqual(try tunnel.session("wg")?["state"]?.stringValue, "connected", "\(reply)" + tunnel.failureLog)

        // B initiates: its initiation reaches A over IPv6, and A answers to where it came from.
        XCTAssertEqual(try lab.latestHandshakeInB(), 0)
        let back = try tunnel.inB(["ping", "-c", "3", "-W", "5", WireGuardLab.tunnelAddressA])
        XCTAssertEqual(back.status, 0, back.output + back.error + tunnel.failureLog + lab.wireguardGoLog)
        let answered = (try tunnel.providerStatus()["peers"] as? [[String: Any]])?.first ?? [:]
        XCTAssertEqual(answered["endpoint"] as? String, Self.statusEndpointB)
        XCTAssertEqual(answered["handshakesInitiated"] as? Int, 0, "B initiated: \(answered)")
        XCTAssertGreaterThan(answered["latestHandshake"] as? Int ?? 0, 0, "\(answered)")
        let endpoints = try lab.wgInB(["show", lab.interfaceB, "endpoints"])
        XCTAssertTrue(endpoints.contains("[\(Self.underlayA)]:\(WireGuardLab.portA)"), "B sees A over IPv6: \(endpoints)")

        // A initiates: a reconnected provider has no session and starts one over IPv6.
        try tunnel.disconnect("wg")
        try tunnel.connect("wg")
        let ping = try tunnel.inA(["ping", "-c", "3", "-W", "5", WireGuardLab.tunnelAddressB])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error + tunnel.failureLog + lab.wireguardGoLog)
        let ping6 = try tunnel.inA(["ping", "-6", "-c", "2", "-W", "5", WireGuardLab.tunnelAddress6B])
        XCTAssertEqual(ping6.status, 0, ping6.output + ping6.error + tunnel.failureLog)
        // 1392 + 8 + 20 = 1420, the tunnel MTU, unfragmented; its datagram (+ 32 + 8 + 40) fits the 1500-byte IPv6 underlay.
        let full = try tunnel.inA(["ping", "-c", "2", "-M", "do", "-s", "1392", "-W", "5", WireGuardLab.tunnelAddressB])
        XCTAssertEqual(full.status, 0, full.output + full.error + tunnel.failureLog)
        let peer = (try tunnel.providerStatus()["peers"] as? [[String: Any]])?.first ?? [:]
        XCTAssertEqual(peer["endpoint"] as? String, Self.statusEndpointB)
        XCTAssertEqual(peer["handshakesInitiated"] as? Int, 1, "A initiated: \(peer)")
        XCTAssertGreaterThanOrEqual(peer["transferRx"] as? Int ?? 0, 2 * 1452, "\(peer)")
    }
}
