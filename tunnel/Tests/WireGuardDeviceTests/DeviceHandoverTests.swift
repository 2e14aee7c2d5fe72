// WireGuardDevice handover: export from a running simulated device, import into a fresh device
// built from the same configuration (as the provider's next version does), and the tunnel goes on
// with no new handshake; replays from before the export stay refused; timers keep their remaining
// time across a different clock zero; every corrupt, truncated or hostile blob is refused with a
// typed error and changes nothing. Simulated time only: no timed assertions.
import WireGuardCrypto
import WireGuardProtocol
import XCTest

@testable import WireGuardDevice

final class DeviceHandoverTests: XCTestCase {
    private let a = 0
    private let b = 1

    /// The configuration SimulatedNetwork.mesh gives device `index` of `count`.
    private func configuration(_ index: Int, of count: Int) -> DeviceConfiguration {
        var peers: [PeerConfiguration] = []
        for j in 0..<count where j != index {
            let host = UInt8(j + 1)
            peers.append(
                PeerConfiguration(
                    publicKey: SimulatedNetwork.key(host).publicKey, endpoint: SimulatedNetwork.endpoint(host),
                    allowedIPs: [IPPrefix(SimulatedNetwork.inner(host), 32)!]))  // /32 is valid
        }
        return DeviceConfiguration(privateKey: SimulatedNetwork.key(UInt8(index + 1)), peers: peers)
    }

    /// Replaces device `index` by a fresh one that imported its state at `importedAt` (default: now).
    private func handOver(_ network: inout SimulatedNetwork, _ index: Int, count: Int = 2, timers: WireGuardTimers = .standard) throws {
        let blob = network.devices[index].exportHandover(now: network.now)
        var fresh = WireGuardDevice(configuration: configuration(index, of: count), timers: timers)
        try fresh.importHandover(blob, now: network.now)
        network.devices[index] = fresh
    }

    private func handshakeMessages(_ network: SimulatedNetwork) -> Int { network.log.filter { $0.type == 1 || $0.type == 2 }.count }

    private func established(timers: WireGuardTimers = .standard) -> SimulatedNetwork {
        var network = SimulatedNetwork.mesh(2, timers: timers)
        network.sendPacket(from: a, toHost: 2)
        network.run()
        network.sendPacket(from: b, toHost: 1)
        network.run()
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 1)
        XCTAssertEqual(network.deliveredPackets(at: a, fromHost: 2).count, 1)
        return network
    }

    func testTrafficContinuesBothWaysWithoutANewHandshake() throws {
        var network = established()
        let handshakes = handshakeMessages(network)
        XCTAssertEqual(handshakes, 2, "one initiation, one response")
        let keyB = network.devices[b].publicKey
        let keyA = network.devices[a].publicKey
        let indexBefore = network.devices[a].keypairs(of: keyB)?.current?.localIndex
        let counterBefore = try XCTUnwrap(network.devices[a].keypairs(of: keyB)?.current?.sendCounter)
        let statisticsBefore = network.devices[a].statistics(of: keyB)

        network.now += .seconds(3)
        try handOver(&network, a)  // the initiator's side
        XCTAssertEqual(network.devices[a].keypairs(of: keyB)?.current?.localIndex, indexBefore)
        XCTAssertEqual(network.devices[a].keypairs(of: keyB)?.current?.sendCounter, counterBefore)
        XCTAssertEqual(network.devices[a].statistics(of: keyB), statisticsBefore)
        XCTAssertEqual(network.devices[a].indicesInUse, 1)
        for round in 0..<5 {
            network.sendPacket(from: a, toHost: 2, fill: UInt8(round))
            network.sendPacket(from: b, toHost: 1, fill: UInt8(round))
            network.run()
        }
        try handOver(&network, b)  // and the responder's
        for round in 0..<5 {
            network.sendPacket(from: a, toHost: 2, fill: UInt8(round))
            network.sendPacket(from: b, toHost: 1, fill: UInt8(round))
            network.run()
        }
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 11)
        XCTAssertEqual(network.deliveredPackets(at: a, fromHost: 2).count, 11)
        XCTAssertEqual(handshakeMessages(network), handshakes, "no handshake after either handover")
        XCTAssertEqual(network.devices[a].statistics(of: keyB)?.handshakesInitiated, 1)
        XCTAssertEqual(network.devices[b].statistics(of: keyA)?.handshakesInitiated, 0)
        XCTAssertEqual(network.devices[a].keypairs(of: keyB)?.current?.sendCounter, counterBefore + 10)
        XCTAssertEqual(network.devices[a].drops.total + network.devices[b].drops.total, 0)
    }

    func testAnUnconfirmedResponderSessionIsConfirmedAfterTheHandover() throws {
        var network = SimulatedNetwork.mesh(2, timers: .standard)
        network.filter = { $0.type != 4 }  // the handshake completes, A's first data is lost
        network.sendPacket(from: a, toHost: 2)
        network.run()
        let keyA = network.devices[a].publicKey
        XCTAssertNotNil(network.devices[b].keypairs(of: keyA)?.next, "B holds the session as next")
        XCTAssertNil(network.devices[b].keypairs(of: keyA)?.current)
        network.filter = { _ in true }
        try handOver(&network, b)
        XCTAssertNotNil(network.devices[b].keypairs(of: keyA)?.next, "carried in its slot")
        network.sendPacket(from: a, toHost: 2)
        network.run()
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 1)
        XCTAssertNotNil(network.devices[b].keypairs(of: keyA)?.current, "data on next confirmed it")
        network.sendPacket(from: b, toHost: 1)
        network.run()
        XCTAssertEqual(network.deliveredPackets(at: a, fromHost: 2).count, 1)
        XCTAssertEqual(handshakeMessages(network), 2)
    }

    func testADatagramFromBeforeTheExportIsRefusedAfterTheImport() throws {
        var network = established()
        let seen = try XCTUnwrap(network.log.last { $0.type == 4 && $0.to == network.endpoints[b] })
        // One more datagram is sent before the export but delivered only after the import.
        network.filter = { _ in false }
        network.sendPacket(from: a, toHost: 2, fill: 7)
        let late = try XCTUnwrap(network.log.last)
        network.filter = { _ in true }
        try handOver(&network, b)

        let replayed = network.devices[b].receive(seen.bytes, from: seen.from, now: network.now, using: &network.generator)
        XCTAssertNil(replayed.packet)
        XCTAssertEqual(replayed.result.dropped, .replayedCounter, "the replay window came across")
        let first = network.devices[b].receive(late.bytes, from: late.from, now: network.now, using: &network.generator)
        XCTAssertNotNil(first.packet, "a datagram in flight during the handover still arrives once")
        let again = network.devices[b].receive(late.bytes, from: late.from, now: network.now, using: &network.generator)
        XCTAssertEqual(again.result.dropped, .replayedCounter)
    }

    func testTimersKeepTheirRemainingTimeOnAnotherClock() throws {
        var network = established()
        network.sendPacket(from: b, toHost: 1)  // A received data: its keepalive is due in KEEPALIVE_TIMEOUT
        network.run()
        let exportedAt = network.now
        let deadline = try XCTUnwrap(network.devices[a].nextDeadline)
        let blob = network.devices[a].exportHandover(now: exportedAt)

        // The next version's clock started 17 s ago, so its "now" reads 17 s.
        let importedAt: Duration = .seconds(17)
        var fresh = WireGuardDevice(configuration: configuration(a, of: 2))
        try fresh.importHandover(blob, now: importedAt)
        let rebased = try XCTUnwrap(fresh.nextDeadline)
        XCTAssertEqual(rebased - importedAt, deadline - exportedAt, "the same time left")
        XCTAssertEqual(fresh.exportHandover(now: importedAt), blob, "every time and value round-trips")
        let keyB = network.devices[b].publicKey
        let age = try XCTUnwrap(network.devices[a].keypairs(of: keyB)?.current?.createdAt)
        XCTAssertEqual(fresh.keypairs(of: keyB)?.current?.createdAt, importedAt - (exportedAt - age), "session age kept")

        var random = SeededGenerator(state: 9)
        XCTAssertEqual(fresh.tick(now: rebased - .milliseconds(1), using: &random), [], "nothing fires early")
        let fired = fresh.tick(now: rebased, using: &random)
        XCTAssertEqual(fired.count, 1)
        guard case .send(let keepalive, _)? = fired.first else { return XCTFail("\(fired)") }
        XCTAssertEqual(keepalive.count, 32, "a keepalive (header + tag) on the carried session")
        let opened = network.devices[b].receive(keepalive, from: network.endpoints[a], now: network.now, using: &network.generator)
        XCTAssertNil(opened.result.dropped, "B accepts it: same keys, next counter")
    }

    func testASessionOlderThanRejectAfterTimeStaysExpiredOnTheNewClock() throws {
        var network = established()
        network.now += WireGuardTimers.standard.rejectAfterTime
        var fresh = WireGuardDevice(configuration: configuration(a, of: 2))
        try fresh.importHandover(network.devices[a].exportHandover(now: network.now), now: .seconds(1))
        let packet = TestPackets.ipv4(source: SimulatedNetwork.inner(1), destination: SimulatedNetwork.inner(2), payloadCount: 8)
        var random = SeededGenerator(state: 3)
        let (actions, result) = fresh.send(packet, now: .seconds(1), using: &random)
        XCTAssertNil(result.messageCount, "expired on the new clock too: no send")
        XCTAssertEqual(actions.count, 1, "a handshake instead")
    }

    func testResumingMovesTheSendCountersAhead() throws {
        var network = established()
        let keyB = network.devices[b].publicKey
        let before = try XCTUnwrap(network.devices[a].keypairs(of: keyB)?.current?.sendCounter)
        network.devices[a].skipSendCounters(by: 1 << 32)
        XCTAssertEqual(network.devices[a].keypairs(of: keyB)?.current?.sendCounter, before + (1 << 32))
        network.sendPacket(from: a, toHost: 2)
        network.run()
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 2, "the peer's window slides over the gap")
        network.devices[a].skipSendCounters(by: .max)
        XCTAssertEqual(network.devices[a].keypairs(of: keyB)?.current?.sendCounter, WireGuardTimers.standard.rejectAfterMessages)
    }
}
