// WireGuardRoamingTests: endpoint roaming between two culvert-wireguard providers (WireGuardCulvertPair,
// shortened timers, so sessions also rotate meanwhile). B's underlay address changes while B pings A
// through the tunnel; A must follow from B's authenticated packets alone — not from a captured
// transport message replayed from another address, nor from forged handshake or transport
// datagrams — and not a ping may be lost. Root; private namespaces torn down even when a test fails.

import CulvertTesting
import Foundation
import XCTest

final class WireGuardRoamingTests: XCTestCase {
    /// B's second and third underlay addresses (the veth's /24): the attacker's and the one B roams to.
    static let attackerAddress = "10.200.0.4"
    static let roamedAddress = "10.200.0.3"
    /// The attacker's UDP port (B's provider holds 51820 on every address).
    static let attackerPort = 40_000
    /// Seconds the replaying sniffer runs at most.
    static let snifferSeconds = 10

    func testAFollowsBsNewAddressFromAuthenticatedPacketsOnly() throws {
        let lab = try TunnelLab(test: self, startPeer: false)
        let pair = try WireGuardCulvertPair(lab: lab, options: [WireGuardCulvertPair.testTimersOption: "shortened"])
        addTeardownBlock { pair.tearDown() }
        try pair.connectBoth()
        try ping(pair, from: .a, count: 3)
        let home = "\(NetworkNamespacePair.addressB):\(WireGuardCulvertPair.portB)"
        XCTAssertEqual(try pair.peerStatus(.a)["endpoint"] as? String, home)

        // The attacker, on B's veth: captures one of B's transport messages to A and sends it again
        // from its own address, then sends forged handshake and transport datagrams.
        let b = lab.namespaces.b
        try lab.namespaces.ip(in: b, ["addr", "add", Self.attackerAddress + "/24", "dev", "veth-b"])
        let cover = try BackgroundCommand(
            [NetworkNamespacePair.ipCommand, "netns", "exec", b, "ping", "-q", "-c", "300", "-i", "0.01", "-W", "2", pair.tunnelTarget(.a)])
        let attack = try pair.run(
            in: .b,
            [
                "python3", "-c", Self.attacker, "veth-b", NetworkNamespacePair.addressB, NetworkNamespacePair.addressA,
                String(WireGuardCulvertPair.portA), Self.attackerAddress, String(Self.attackerPort), String(Self.snifferSeconds),
            ], timeout: Double(Self.snifferSeconds + 10))
        XCTAssertEqual(attack.status, 0, attack.output + attack.error)
        XCTAssertTrue(attack.output.contains("replayed"), attack.output)
        let covered = try cover.wait()
        XCTAssertTrue(covered.stdout.contains("300 received"), covered.stdout + pair.logs)
        // A handles the attacker's datagrams asynchronously: poll (bounded) until all three are counted.
        var dropsA: [String: Int] = [:]
        for _ in 0..<100 {
            dropsA = try pair.status(.a)["drops"] as? [String: Int] ?? [:]
            if ["replayedCounter", "invalidMAC1", "unknownReceiverIndex"].allSatisfy({ (dropsA[$0] ?? 0) >= 1 }) { break }
            usleep(50_000)
        }
        let seen = try pair.peerStatus(.a)
        XCTAssertGreaterThanOrEqual(dropsA["replayedCounter"] ?? 0, 1, "the replayed message was refused: \(dropsA)")
        XCTAssertGreaterThanOrEqual(dropsA["invalidMAC1"] ?? 0, 1, "the forged initiation was refused: \(dropsA)")
        XCTAssertGreaterThanOrEqual(dropsA["unknownReceiverIndex"] ?? 0, 1, "the forged transport message was refused: \(dropsA)")
        XCTAssertEqual(seen["endpoint"] as? String, home, "unauthenticated or replayed datagrams never move the endpoint")
        try lab.namespaces.ip(in: b, ["addr", "del", Self.attackerAddress + "/24", "dev", "veth-b"])

        // B roams: a new address, and its datagrams to A leave from it. Then the old one goes away.
        let flood = try BackgroundCommand(
            [
                NetworkNamespacePair.ipCommand, "netns", "exec", b, "ping", "-q", "-c", "1200", "-i", "0.01", "-W", "2",
                pair.tunnelTarget(.a),
            ])
        _ = try pair.run(in: .b, ["sysctl", "-qw", "net.ipv4.conf.veth-b.promote_secondaries=1"])
        try lab.namespaces.ip(in: b, ["addr", "add", Self.roamedAddress + "/24", "dev", "veth-b"])
        try lab.namespaces.ip(
            in: b, ["route", "replace", NetworkNamespacePair.addressA + "/32", "dev", "veth-b", "src", Self.roamedAddress])
        let roamed = "\(Self.roamedAddress):\(WireGuardCulvertPair.portB)"
        let followed = try pair.waitForPeerStatus(.a) { $0["endpoint"] as? String == roamed }
        XCTAssertEqual(followed["endpoint"] as? String, roamed, "A follows B's authenticated packets" + pair.logs)
        try lab.namespaces.ip(in: b, ["addr", "del", NetworkNamespacePair.addressB + "/24", "dev", "veth-b"])
        let moved = try flood.wait()
        XCTAssertTrue(
            moved.stdout.contains("1200 packets transmitted, 1200 received"), "no ping lost while roaming: " + moved.stdout + pair.logs)

        // And A's own traffic reaches B at the new address only (the old one is gone).
        try ping(pair, from: .a, count: 3)
        XCTAssertEqual(try pair.peerStatus(.a)["endpoint"] as? String, roamed)
        try assertNoAuthenticationDrops(pair, allowing: ["replayedCounter"])
    }

    /// The attacker (stdlib Python, bounded by its time argument): sniff veth-b (ETH_P_ALL: only
    /// such a tap sees outgoing frames) for one of B's
    /// transport messages (type 4, carrying data) to A, send the same bytes to A from its own
    /// address, then a forged initiation (type 1, random bytes: bad mac1) and a forged transport
    /// message (random receiver index). Prints "replayed N"; exits 1 if it captured nothing.
    static let attacker = TransportSniffer.script(
        #"""
        import os, sys
        iface, b, a, port, mine, myport, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), float(sys.argv[7])
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        out.bind((mine, myport))
        payload = first_transport(iface, b, a, port, seconds)
        if payload is None:
            sys.exit(1)
        out.sendto(payload, (a, port))
        out.sendto(b"\x01\x00\x00\x00" + os.urandom(144), (a, port))
        out.sendto(b"\x04\x00\x00\x00" + os.urandom(28 + 16), (a, port))
        print("replayed", len(payload))
        """#)
}

extension WireGuardCulvertPair {
    /// `side`'s tunnel address, as the other side pings it.
    func tunnelTarget(_ side: Side) -> String { Self.tunnelAddress(side) }
}
