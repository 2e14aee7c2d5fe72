// WireGuardDevice over the simulated network: handshake and data both ways, either side
// initiating, cryptokey routing among three peers, roaming, the under-load cookie path, and
// replayed, forged and garbage datagrams counted by reason.
import WireGuardCrypto
import WireGuardDevice
import XCTest

final class DeviceHandshakeTests: XCTestCase {
    private let a = 0
    private let b = 1

    private func establish(_ network: inout SimulatedNetwork, initiator: Int = 0, responder: Int = 1) {
        let result = network.sendPacket(from: initiator, toHost: UInt8(responder + 1), fill: 1)
        XCTAssertTrue(result.queued)
        network.run()
    }

    func testHandshakeAndDataBothWays() {
        var network = SimulatedNetwork.mesh(2, timers: .standard, presharedKey: .filled(9))
        establish(&network)
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 1, "the queued packet arrives after the handshake")
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).first?[20], 1)
        let keyB = network.devices[b].publicKey
        let keyA = network.devices[a].publicKey
        XCTAssertNotNil(network.devices[a].keypairs(of: keyB)?.current)
        XCTAssertNotNil(network.devices[b].keypairs(of: keyA)?.current, "first data confirmed the responder's session")
        XCTAssertNil(network.devices[b].keypairs(of: keyA)?.next)
        XCTAssertNotNil(network.devices[a].statistics(of: keyB)?.lastHandshakeAt, "the initiator's handshake completed")
        XCTAssertNotNil(network.devices[b].statistics(of: keyA)?.lastHandshakeAt, "the responder's completed on confirmation")
        for round in 0..<20 {
            let fromA = network.sendPacket(from: a, toHost: 2, payloadCount: round * 37, fill: UInt8(round))
            XCTAssertNotNil(fromA.messageCount)
            network.sendPacket(from: b, toHost: 1, payloadCount: 1400 - round, fill: UInt8(100 + round))
            network.run()
        }
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 21)
        XCTAssertEqual(network.deliveredPackets(at: a, fromHost: 2).count, 20)
        XCTAssertEqual(network.deliveredPackets(at: a, fromHost: 2).last?.count, 20 + 1400 - 19, "padding cut off")
        XCTAssertEqual(network.deliveredPackets(at: a, fromHost: 2).last?.last, 119)
        XCTAssertEqual(network.devices[a].drops.total, 0)
        XCTAssertEqual(network.devices[b].drops.total, 0)
        XCTAssertEqual(network.initiations(from: a).count, 1)
        XCTAssertEqual(network.devices[a].indicesInUse, 1)
        XCTAssertEqual(network.devices[b].indicesInUse, 1)
    }

    func testResponderSideInitiatesToo() {
        var network = SimulatedNetwork.mesh(2, timers: .standard)
        establish(&network, initiator: b, responder: a)
        network.sendPacket(from: a, toHost: 2)
        network.run()
        XCTAssertEqual(network.deliveredPackets(at: a, fromHost: 2).count, 1)
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 1)
        XCTAssertEqual(network.initiations(from: a).count, 0)
        XCTAssertEqual(network.initiations(from: b).count, 1)
    }

    func testCryptokeyRoutingAmongThreePeers() {
        var network = SimulatedNetwork.mesh(3, timers: .standard)
        // Give device 2 (host 3) a subnet too; device 0 routes it there.
        var peer = PeerConfiguration(
            publicKey: SimulatedNetwork.key(3).publicKey, endpoint: SimulatedNetwork.endpoint(3),
            allowedIPs: [IPPrefix(SimulatedNetwork.inner(3), 32)!, IPPrefix(v4String: "192.168.0.0/16")!])  // literals are valid
        network.devices[0].addPeer(peer)
        network.sendPacket(from: 0, toHost: 2)
        network.sendPacket(from: 0, toHost: 3)
        network.run()
        XCTAssertEqual(network.deliveredPackets(at: 1, fromHost: 1).count, 1)
        XCTAssertEqual(network.deliveredPackets(at: 2, fromHost: 1).count, 1)
        let toSubnet = TestPackets.ipv4(source: SimulatedNetwork.inner(1), destination: IPAddress(192, 168, 4, 4), payloadCount: 10)
        let (actions, _) = network.devices[0].send(toSubnet, now: network.now, using: &network.generator)
        network.apply(actions, from: 0)
        network.run()
        XCTAssertEqual(network.delivered[2].count, 2, "192.168.4.4 routes to the third device")
        XCTAssertEqual(network.delivered[1].count, 1)
        let unrouted = TestPackets.ipv4(source: SimulatedNetwork.inner(1), destination: IPAddress(8, 8, 8, 8), payloadCount: 10)
        XCTAssertEqual(network.devices[0].send(unrouted, now: network.now, using: &network.generator).result.dropped, .noRoute)
        // Device 2 claims device 1's inner address as its source: device 0 must refuse it.
        let spoofed = TestPackets.ipv4(source: SimulatedNetwork.inner(2), destination: SimulatedNetwork.inner(1), payloadCount: 10)
        let (spoofActions, _) = network.devices[2].send(spoofed, now: network.now, using: &network.generator)
        network.apply(spoofActions, from: 2)
        network.run()
        XCTAssertEqual(network.devices[0].drops[.disallowedSource], 1)
        XCTAssertEqual(network.delivered[0].count, 0)
        peer.allowedIPs = []
        network.devices[0].addPeer(peer)
        XCTAssertEqual(network.devices[0].send(toSubnet, now: network.now, using: &network.generator).result.dropped, .noRoute)
    }

    func testRoamingFollowsOnlyAuthenticatedPackets() {
        var network = SimulatedNetwork.mesh(2, timers: .standard)
        establish(&network)
        let keyB = network.devices[b].publicKey
        XCTAssertEqual(network.devices[a].endpoint(of: keyB), SimulatedNetwork.endpoint(2))
        let roamed = Endpoint(address: IPAddress(198, 51, 100, 7), port: 40000)
        network.endpoints[b] = roamed
        network.sendPacket(from: b, toHost: 1)
        network.run()
        XCTAssertEqual(network.devices[a].endpoint(of: keyB), roamed)
        // A forged transport message (right index, bad tag) from elsewhere must not move it.
        guard var forged = network.log.last(where: { $0.type == 4 && $0.from == roamed })?.bytes else { return XCTFail("no transport") }
        forged[8] &+= 1
        forged[forged.count - 1] ^= 0x55
        let attacker = Endpoint(address: IPAddress(203, 0, 113, 66), port: 666)
        let result = network.devices[a].receive(forged, from: attacker, now: network.now, using: &network.generator).result
        XCTAssertEqual(result.dropped, .authenticationFailed)
        XCTAssertEqual(network.devices[a].endpoint(of: keyB), roamed)
        // Replies follow the new endpoint.
        network.sendPacket(from: a, toHost: 2)
        network.run()
        XCTAssertEqual(network.log.last?.to, roamed)
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 2)
    }

    func testUnderLoadCookiePathCompletes() {
        var network = SimulatedNetwork.mesh(2, timers: .shortened)
        network.devices[b].underLoad = true
        network.sendPacket(from: a, toHost: 2)
        network.run()
        XCTAssertTrue(network.log.contains { $0.type == 3 }, "a cookie reply instead of a response")
        XCTAssertFalse(network.log.contains { $0.type == 2 })
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 0)
        network.advance(by: .milliseconds(100))  // the retransmission carries mac2
        XCTAssertTrue(network.log.contains { $0.type == 2 })
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 1)
        XCTAssertEqual(network.devices[a].drops.total, 0)
        XCTAssertEqual(network.devices[b].drops.total, 0)
    }

    func testReplayedForgedAndGarbageDatagramsAreCounted() {
        var network = SimulatedNetwork.mesh(2, timers: .standard)
        establish(&network)
        network.sendPacket(from: a, toHost: 2)
        guard let transport = network.inFlight.last?.bytes, let initiation = network.initiations(from: a).first?.bytes else {
            return XCTFail("nothing captured")
        }
        network.run()
        let from = SimulatedNetwork.endpoint(1)
        var device = network.devices[b]
        var feedGenerator = SeededGenerator(state: 17)
        func feed(_ bytes: [UInt8]) -> DropReason? {
            device.receive(bytes, from: from, now: network.now, using: &feedGenerator).result.dropped
        }
        XCTAssertEqual(feed(transport), .replayedCounter)
        XCTAssertEqual(feed(initiation), .replayedInitiation)
        var unknownIndex = transport
        unknownIndex[4] &+= 1
        XCTAssertEqual(feed(unknownIndex), .unknownReceiverIndex)
        var badMAC = initiation
        badMAC[120] ^= 1
        XCTAssertEqual(feed(badMAC), .invalidMAC1)
        XCTAssertEqual(feed([]), .malformed)
        XCTAssertEqual(feed([4, 0, 0, 0]), .malformed)
        XCTAssertEqual(feed([UInt8](repeating: 9, count: 200)), .malformed)
        XCTAssertEqual(feed([1] + [UInt8](repeating: 0, count: 147)), .invalidMAC1, "well-formed but unauthenticated")
        let stranger = CookieReplyFixtures.unsolicited(receiverIndex: 77)
        XCTAssertEqual(feed(stranger), .unknownReceiverIndex)
        // Random garbage of every type byte and many lengths: dropped, never a trap, all counted.
        var generator = SeededGenerator(state: 99)
        let before = device.drops.total
        var fed = 0
        for length in stride(from: 0, through: 300, by: 3) {
            for type in UInt8(0)...5 {
                var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                if !bytes.isEmpty { bytes[0] = type }
                XCTAssertNotNil(feed(bytes), "garbage of type \(type), length \(length) was accepted")
                fed += 1
            }
        }
        XCTAssertEqual(device.drops.total - before, UInt64(fed))
        XCTAssertEqual(device.drops[.replayedCounter], 1)
        XCTAssertEqual(device.drops[.replayedInitiation], 1)
        network.devices[b] = device
        // Still works afterwards.
        network.sendPacket(from: a, toHost: 2)
        network.run()
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 3)
    }
}

enum CookieReplyFixtures {
    /// A well-formed cookie reply no handshake asked for.
    static func unsolicited(receiverIndex: UInt32) -> [UInt8] {
        var bytes = [UInt8](repeating: 0x33, count: 64)
        bytes[0] = 3
        bytes[1] = 0
        bytes[2] = 0
        bytes[3] = 0
        withUnsafeBytes(of: receiverIndex.littleEndian) { bytes.replaceSubrange(4..<8, with: $0) }
        return bytes
    }
}
