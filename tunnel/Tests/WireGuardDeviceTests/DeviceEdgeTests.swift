// WireGuardDevice edge cases: the responder's initiation flood limit, a new handshake when sent data
// gets no answer, the initiator's rekey on receive near REJECT_AFTER_TIME, and receiver-index
// collisions from the generator redrawn.
import WireGuardCrypto
import WireGuardDevice
import WireGuardProtocol
import XCTest

final class DeviceEdgeTests: XCTestCase {
    private let timers = WireGuardTimers.shortened

    /// An initiation from `local` to `peer` with mac1 set, as a device would send it.
    private func initiation(from local: PrivateKey, to peer: PublicKey, unixSeconds: UInt64, index: UInt32) -> [UInt8] {
        var generator = SeededGenerator(state: UInt64(index))
        var (_, message) = try! Initiator.start(  // fixed valid keys
            local: local, peer: peer, presharedKey: .zero, ephemeral: .generate(using: &generator), senderIndex: index,
            timestamp: TAI64N(unixSeconds: unixSeconds, nanoseconds: 0))
        var cookies = CookieGenerator(remotePublicKey: peer)
        cookies.addMACs(to: &message, now: .zero)
        return message.bytes
    }

    func testInitiationFloodIsLimitedPerPeer() {
        var network = SimulatedNetwork.mesh(2, timers: timers)
        var device = network.devices[1]
        let keyA = SimulatedNetwork.key(1)
        let from = SimulatedNetwork.endpoint(1)
        var generator = SeededGenerator(state: 8)
        let first = initiation(from: keyA, to: device.publicKey, unixSeconds: 100, index: 1)
        let second = initiation(from: keyA, to: device.publicKey, unixSeconds: 101, index: 2)
        let third = initiation(from: keyA, to: device.publicKey, unixSeconds: 102, index: 3)
        XCTAssertNil(device.receive(first, from: from, now: .seconds(1), using: &generator).result.dropped)
        XCTAssertEqual(
            device.receive(second, from: from, now: .seconds(1) + .milliseconds(19), using: &generator).result.dropped, .initiationFlood)
        XCTAssertNil(device.receive(third, from: from, now: .seconds(1) + .milliseconds(20), using: &generator).result.dropped)
        XCTAssertEqual(device.drops[.initiationFlood], 1)
        XCTAssertEqual(device.indicesInUse, 1, "the replaced unconfirmed session released its index")
        network.devices[1] = device
    }

    func testUnansweredDataStartsANewHandshake() {
        var network = SimulatedNetwork.mesh(2, timers: timers)
        let endpointB = network.endpoints[1]
        network.filter = { $0.from != endpointB || $0.type != 4 }  // B's transport messages (its keepalive) are lost
        network.sendPacket(from: 0, toHost: 2)  // data sent at 0 after the handshake: nothing ever comes back
        network.run()
        XCTAssertEqual(network.deliveredPackets(at: 1, fromHost: 1).count, 1)
        let before = network.initiations(from: 0).count
        network.advance(to: timers.keepaliveTimeout + timers.rekeyTimeout - .milliseconds(1))
        XCTAssertEqual(network.initiations(from: 0).count, before, "not before KEEPALIVE + REKEY_TIMEOUT")
        network.advance(by: timers.rekeyTimeoutJitter + .milliseconds(2))
        XCTAssertEqual(network.initiations(from: 0).count, before + 1)
    }

    func testInitiatorRekeysOnReceiveNearRejectAfterTime() {
        var network = SimulatedNetwork.mesh(2, timers: timers)
        network.sendPacket(from: 0, toHost: 2)
        network.run()
        let first = network.devices[0].keypairs(of: network.devices[1].publicKey)?.current?.localIndex
        network.now += timers.rekeyOnReceiveAfter - .milliseconds(1)
        network.sendPacket(from: 1, toHost: 1)
        network.run()
        XCTAssertEqual(network.devices[0].keypairs(of: network.devices[1].publicKey)?.current?.localIndex, first)
        network.now += .milliseconds(1)
        network.sendPacket(from: 1, toHost: 1)
        network.run()
        XCTAssertNotEqual(network.devices[0].keypairs(of: network.devices[1].publicKey)?.current?.localIndex, first)
        XCTAssertEqual(network.deliveredPackets(at: 0, fromHost: 2).count, 2)
        XCTAssertEqual(network.devices[0].drops.total + network.devices[1].drops.total, 0)
    }

    func testIndexCollisionsAreRedrawn() {
        var network = SimulatedNetwork.mesh(3, timers: timers)
        var generator = StuckGenerator(stuckDraws: 40, value: 0x1234_5678_9abc_def0)
        // Two initiations from device 0: the second index draw collides with the first until unstuck.
        let packetB = TestPackets.ipv4(source: SimulatedNetwork.inner(1), destination: SimulatedNetwork.inner(2), payloadCount: 4)
        let packetC = TestPackets.ipv4(source: SimulatedNetwork.inner(1), destination: SimulatedNetwork.inner(3), payloadCount: 4)
        var device = network.devices[0]
        let toB = device.send(packetB, now: .zero, using: &generator).actions
        let toC = device.send(packetC, now: .zero, using: &generator).actions
        XCTAssertEqual(device.indicesInUse, 2)
        let indices = (toB + toC).compactMap { action -> UInt32? in
            guard case .send(let bytes, _) = action else { return nil }
            return UInt32(bytes[4]) | UInt32(bytes[5]) << 8 | UInt32(bytes[6]) << 16 | UInt32(bytes[7]) << 24
        }
        XCTAssertEqual(indices.count, 2)
        XCTAssertEqual(indices.first, 0x9abc_def0, "the first draw is the stuck value")
        XCTAssertNotEqual(indices.first, indices.last)
        network.devices[0] = device
        network.apply(toB + toC, from: 0)
        network.run()
        XCTAssertEqual(network.deliveredPackets(at: 1, fromHost: 1).count, 1)
        XCTAssertEqual(network.deliveredPackets(at: 2, fromHost: 1).count, 1)
    }
}

/// Returns one value for the first `stuckDraws` draws, then seeded randomness.
struct StuckGenerator: RandomNumberGenerator {
    var stuckDraws: Int
    let value: UInt64
    var rest = SeededGenerator(state: 11)

    mutating func next() -> UInt64 {
        guard stuckDraws > 0 else { return rest.next() }
        stuckDraws -= 1
        return value
    }
}
