// WireGuardInteropTests: culvert-wireguard (run by culvertd in namespace A) against Debian's
// wireguard-go (namespace B) over the veth: the handshake and data both ways, a full-MTU packet
// with DF set, either side initiating, and the `status` message. Root; private namespaces torn
// down by the lab even when a test fails (WireGuardLab, TunnelLab).

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class WireGuardInteropTests: XCTestCase {
    /// Seconds ping waits for each reply: the first one waits for the handshake.
    static let pingWait = "5"

    /// A lab with culvert-wireguard installed, wireguard-go up in B, and A's wg-quick file imported as profile "wg".
    private func makeLab(persistentKeepalive: Int? = nil, allowedIPs: String? = nil) throws -> WireGuardLab {
        let tunnel = try TunnelLab(test: self, startPeer: false)
        let lab = try WireGuardLab(lab: tunnel)
        addTeardownBlock { lab.tearDown() }
        try lab.importProfile(lab.wgQuickFileA(persistentKeepalive: persistentKeepalive, allowedIPs: allowedIPs))
        return lab
    }

    private func connect(_ lab: WireGuardLab) throws {
        let reply = try lab.lab.connect("wg")
        let state = try lab.lab.session("wg")?["state"]?.stringValue
        XCTAssertEqual(state, "connected", "Connect: \(reply)" + lab.failureLog)
    }

    func testPingBothWaysAndFullMTUThroughWireguardGo() throws {
        let lab = try makeLab()
        try connect(lab)
        XCTAssertEqual(try lab.latestHandshakeInB(), 0, "no handshake before any traffic")

        let ping = try lab.lab.inA(["ping", "-c", "3", "-W", Self.pingWait, WireGuardLab.tunnelAddressB])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error + lab.failureLog)
        XCTAssertGreaterThan(try lab.latestHandshakeInB(), 0, "wireguard-go saw a handshake")
        let before = try lab.transferInB()
        XCTAssertGreaterThan(before.received, 0)
        XCTAssertGreaterThan(before.sent, 0)

        let back = try lab.lab.inB(["ping", "-c", "3", "-W", Self.pingWait, WireGuardLab.tunnelAddressA])
        XCTAssertEqual(back.status, 0, back.output + back.error + lab.failureLog)

        // 1392 + 8 (ICMP) + 20 (IPv4) = 1420, the tunnel MTU, not fragmented.
        let full = try lab.lab.inA(["ping", "-c", "3", "-M", "do", "-s", "1392", "-W", Self.pingWait, WireGuardLab.tunnelAddressB])
        XCTAssertEqual(full.status, 0, full.output + full.error + lab.failureLog)
        let after = try lab.transferInB()
        // Three 1420-byte requests in, three replies out, each a 1452-byte transport message at least.
        XCTAssertGreaterThanOrEqual(after.received - before.received, 3 * 1452)
        XCTAssertGreaterThanOrEqual(after.sent - before.sent, 3 * 1452)
        let tooBig = try lab.lab.inA(["ping", "-c", "1", "-M", "do", "-s", "1393", "-W", "1", WireGuardLab.tunnelAddressB])
        XCTAssertNotEqual(tooBig.status, 0, "a packet over the tunnel MTU with DF set must not pass")

        let status = try lab.providerStatus()
        let peers = status["peers"] as? [[String: Any]] ?? []
        XCTAssertEqual(status["publicKey"] as? String, lab.publicKeyA)
        XCTAssertEqual(status["listenPort"] as? Int, WireGuardLab.portA)
        XCTAssertEqual(peers.count, 1)
        XCTAssertEqual(peers.first?["publicKey"] as? String, lab.publicKeyB)
        XCTAssertEqual(peers.first?["endpoint"] as? String, "\(NetworkNamespacePair.addressB):\(WireGuardLab.portB)")
        XCTAssertGreaterThan(peers.first?["latestHandshake"] as? Int ?? 0, 0)
        XCTAssertGreaterThan(peers.first?["transferRx"] as? Int ?? 0, 3 * 1452)
        XCTAssertGreaterThan(peers.first?["transferTx"] as? Int ?? 0, 3 * 1452)
        XCTAssertEqual(peers.first?["handshakesInitiated"] as? Int, 1, "A initiated the one handshake")
        let drops = status["drops"] as? [String: Int]
        XCTAssertNotNil(drops)
        for reason in ["authenticationFailed", "replayedCounter", "disallowedSource", "invalidMAC1"] {
            XCTAssertNil(drops?[reason], "wireguard-go's messages all authenticate: \(String(describing: drops))")
        }
        try assertNoSecrets(lab)
        let containment = try lab.lab.session("wg")?["containment"]
        XCTAssertEqual(
            containment?["deniedCalls"]?.intValue, 0,
            "culvert-wireguard makes no call the filter refuses: \(String(describing: containment))")
        // culvertd's own link changes (MTU, up) while the DNS step was still running were once
        // reported as someone else's ("cvt0 was set down by someone other than culvertd").
        let daemonLog = (try? String(contentsOfFile: lab.lab.daemon.logPath, encoding: .utf8)) ?? ""  // try?: absent reads as empty
        XCTAssertFalse(daemonLog.contains("someone other than culvertd"), daemonLog)
    }

    func testWireguardGoInitiates() throws {
        let lab = try makeLab()
        try connect(lab)
        XCTAssertEqual(try lab.latestHandshakeInB(), 0, "A sends nothing on its own without a persistent keepalive")

        let ping = try lab.lab.inB(["ping", "-c", "3", "-W", Self.pingWait, WireGuardLab.tunnelAddressA])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error + lab.failureLog)
        XCTAssertGreaterThan(try lab.latestHandshakeInB(), 0)
        let transfer = try lab.transferInB()
        XCTAssertGreaterThan(transfer.received, 0)
        XCTAssertGreaterThan(transfer.sent, 0)

        let peer = (try lab.providerStatus()["peers"] as? [[String: Any]])?.first ?? [:]
        XCTAssertEqual(peer["handshakesInitiated"] as? Int, 0, "B initiated; A only answered")
        XCTAssertGreaterThan(peer["latestHandshake"] as? Int ?? 0, 0)
        // And the session B made carries A's traffic too.
        let back = try lab.lab.inA(["ping", "-c", "2", "-W", Self.pingWait, WireGuardLab.tunnelAddressB])
        XCTAssertEqual(back.status, 0, back.output + back.error + lab.failureLog)
        try assertNoSecrets(lab)
    }

    func testIPv6InsideTheTunnel() throws {
        let lab = try makeLab()
        try connect(lab)
        let ping = try lab.lab.inA(["ping", "-6", "-c", "3", "-W", Self.pingWait, WireGuardLab.tunnelAddress6B])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error + lab.failureLog)
        let back = try lab.lab.inB(["ping", "-6", "-c", "3", "-W", Self.pingWait, WireGuardLab.tunnelAddress6A])
        XCTAssertEqual(back.status, 0, back.output + back.error + lab.failureLog)
        // 1372 + 8 (ICMPv6) + 40 (IPv6) = 1420.
        let full = try lab.lab.inA(["ping", "-6", "-c", "2", "-M", "do", "-s", "1372", "-W", Self.pingWait, WireGuardLab.tunnelAddress6B])
        XCTAssertEqual(full.status, 0, full.output + full.error + lab.failureLog)
    }

    func testFullTunnelKeepsTheUnderlayOutside() throws {
        let lab = try makeLab(allowedIPs: "0.0.0.0/0")
        // Reachable from A only through the tunnel: on B's loopback, not on the veth.
        try lab.lab.namespaces.ip(in: lab.lab.namespaces.b, ["addr", "add", TunnelLab.behindPeer + "/32", "dev", "lo"])
        try connect(lab)
        let route = try lab.lab.inA(["ip", "route", "get", TunnelLab.behindPeer])
        XCTAssertEqual(route.status, 0, "A has a route only through the tunnel's default: \(route.error)")
        XCTAssertFalse(route.output.contains("veth-a"), "everything goes through the tunnel: \(route.output)")
        let ping = try lab.lab.inA(["ping", "-c", "3", "-W", Self.pingWait, TunnelLab.behindPeer])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error + lab.failureLog)
        XCTAssertGreaterThan(try lab.latestHandshakeInB(), 0)
        let peer = (try lab.providerStatus()["peers"] as? [[String: Any]])?.first ?? [:]
        XCTAssertEqual(
            peer["endpoint"] as? String, "\(NetworkNamespacePair.addressB):\(WireGuardLab.portB)", "the protected socket stayed on the veth"
        )
    }

    func testReconnectHandshakesAgain() throws {
        // wg-quick's everyday shape: AllowedIPs are the addresses' own networks, which the kernel
        // already routes to the TUN (this Connect once failed with "add route … File exists").
        let lab = try makeLab(allowedIPs: "10.66.0.0/24, fd66::/64")
        try connect(lab)
        let first = try lab.lab.inA(["ping", "-c", "2", "-W", Self.pingWait, WireGuardLab.tunnelAddressB])
        XCTAssertEqual(first.status, 0, first.output + first.error + lab.failureLog)
        try lab.lab.disconnect("wg")
        XCTAssertEqual(try lab.lab.session("wg")?["state"]?.stringValue ?? "disconnected", "disconnected")
        try connect(lab)
        // A new provider process: new keys in flight, wireguard-go still holds the old session and must accept the new one.
        let second = try lab.lab.inA(["ping", "-c", "2", "-W", Self.pingWait, WireGuardLab.tunnelAddressB])
        XCTAssertEqual(second.status, 0, second.output + second.error + lab.failureLog)
        let peer = (try lab.providerStatus()["peers"] as? [[String: Any]])?.first ?? [:]
        XCTAssertEqual(peer["handshakesInitiated"] as? Int, 1, "the new process initiated its own handshake")
    }

    func testPersistentKeepaliveHandshakesWithoutTraffic() throws {
        let lab = try makeLab(persistentKeepalive: 1)
        try connect(lab)
        // The first keepalive starts a handshake at once; wait (bounded) for wireguard-go to record it.
        var handshake = 0
        for _ in 0..<100 where handshake == 0 {
            handshake = try lab.latestHandshakeInB()
            if handshake == 0 { usleep(100_000) }
        }
        XCTAssertGreaterThan(handshake, 0, lab.failureLog)
        let peer = (try lab.providerStatus()["peers"] as? [[String: Any]])?.first ?? [:]
        XCTAssertEqual(peer["persistentKeepalive"] as? Int, 1)
    }

    func testAnInvalidProfileFailsTheStartNamingTheProblem() throws {
        let lab = try makeLab()
        let cases: [(String, [String: String], [String: String], String)] = [
            ("no-key", ["address": "10.66.0.1/24", "peer.0.public-key": lab.publicKeyB], [:], "private-key"),
            ("unknown", ["address": "10.66.0.1/24", "colour": "blue"], ["private-key": lab.privateKeyA], "colour"),
            (
                "mixed-endpoints",
                [
                    "address": "10.66.0.1/24", "peer.0.public-key": lab.publicKeyB, "peer.0.endpoint": "192.0.2.1:51820",
                    "peer.1.public-key": lab.publicKeyA, "peer.1.endpoint": "[fd00::2]:51820",
                ],
                ["private-key": lab.privateKeyA], "IPv4 and IPv6"
            ),
        ]
        for (name, options, secrets, expected) in cases {
            _ = try lab.lab.control.call(
                "io.culvert.Manager.SaveProfile",
                [
                    "profile": [
                        "name": .string(name), "extension": .string(WireGuardLab.extensionIdentifier),
                        "options": .object(options.mapValues { .string($0) }), "alwaysOn": .bool(false),
                        "secrets": .object(secrets.mapValues { .string($0) }),
                    ]
                ], timeoutMilliseconds: TunnelLab.callMilliseconds)
            let error = TunnelLab.remoteError { try lab.lab.connect(name) }
            XCTAssertEqual(error?.name, "io.culvert.Manager.ConnectFailed", name)
            XCTAssertEqual(error?.parameters["reason"]?.stringValue, "start_failed", name)
            let description = error?.parameters["description"]?.stringValue ?? ""
            XCTAssertTrue(description.contains(expected), "\(name): \(description)")
            XCTAssertFalse(description.contains(lab.privateKeyA), name)
        }
    }

    // MARK: helpers

    /// Neither the session log nor the status answer holds a private or preshared key.
    private func assertNoSecrets(_ lab: WireGuardLab) throws {
        let text = try lab.lab.sessionLog("wg").joined(separator: "\n") + String(describing: try lab.providerStatus())
        for secret in [lab.privateKeyA, lab.privateKeyB, lab.presharedKey] { XCTAssertFalse(text.contains(secret), "a key leaked") }
        let profile = try lab.culvertctl(["profile", "show", "wg"])
        for secret in [lab.privateKeyA, lab.presharedKey] { XCTAssertFalse(profile.stdout.contains(secret), "profile show leaked a key") }
    }
}
