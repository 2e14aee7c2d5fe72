// The split data path (beginSend/SealTicket, beginReceive/OpenTicket/finishReceive), which lets the
// provider seal and open outside its lock: a forged transport message consumes no counter, two
// copies of one message opened at once are delivered once, and senders reserving counters from
// two threads at once never get the same counter (nonce) twice.
import Dispatch
import Synchronization
import WireGuardCrypto
import WireGuardDevice
import XCTest

final class DeviceSplitTests: XCTestCase {
    /// Two devices with a confirmed session (standard timers: no rekey after 1,000 messages).
    private func connectedPair() -> SimulatedNetwork {
        var network = SimulatedNetwork.mesh(2, timers: .standard)
        network.sendPacket(from: 0, toHost: 2)
        network.run()
        XCTAssertEqual(network.deliveredPackets(at: 1, fromHost: 1).count, 1, "the handshake and first packet went through")
        return network
    }

    /// The next transport message from device 0 to device 1, captured instead of delivered.
    private func capturedMessage(_ network: inout SimulatedNetwork, fill: UInt8) -> [UInt8] {
        network.filter = { _ in false }
        let result = network.sendPacket(from: 0, toHost: 2, fill: fill)
        XCTAssertNotNil(result.messageCount)
        network.filter = { _ in true }
        return network.log.last?.bytes ?? []
    }

    private func counter(of message: [UInt8]) -> UInt64 {
        message[8..<16].reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// begin → open → finish on a copy of `message`, as the provider's receive thread does.
    private func splitReceive(
        _ device: inout WireGuardDevice, _ message: [UInt8], from source: Endpoint, generator: inout SeededGenerator
    ) -> (ticket: OpenTicket?, opened: Result<Int, TransportError>?, result: InboundResult?) {
        var buffer = message
        let step = buffer.withUnsafeBytes {
            device.beginReceive(datagram: $0, count: $0.count, from: source, now: .seconds(1), using: &generator)
        }
        guard case .open(let ticket) = step else { return (nil, nil, nil) }
        let opened = buffer.withUnsafeMutableBytes { raw in
            Result { () throws(TransportError) in try ticket.open(inPlace: raw, count: raw.count) }
        }
        let result = buffer.withUnsafeBytes {
            device.finishReceive(ticket, opened: opened, datagram: $0, count: $0.count, from: source, now: .seconds(1), using: &generator)
        }
        return (ticket, opened, result)
    }

    func testForgedTransportMessageConsumesNoCounter() {
        var network = connectedPair()
        let genuine = capturedMessage(&network, fill: 0x11)
        var forged = genuine
        forged[forged.count - 1] ^= 0x01  // the tag's last byte
        var device = network.devices[1]
        let peerA = network.devices[0].publicKey
        let source = network.endpoints[0]
        var generator = SeededGenerator(state: 3)
        let windowBefore = device.keypairs(of: peerA)?.current?.replay

        let (ticket, opened, result) = splitReceive(&device, forged, from: source, generator: &generator)
        XCTAssertEqual(ticket?.counter, counter(of: genuine), "the pre-check passed: only the tag is wrong")
        if case .failure(let error)? = opened { XCTAssertEqual(error, .authenticationFailed) } else { XCTFail("a forged tag opened") }
        XCTAssertEqual(result?.dropped, .authenticationFailed)
        XCTAssertNil(result?.packet)
        XCTAssertEqual(device.drops[.authenticationFailed], 1)
        XCTAssertEqual(device.keypairs(of: peerA)?.current?.replay, windowBefore, "a forged message records no counter")

        let delivered = device.receive(genuine, from: source, now: .seconds(1), using: &generator)
        XCTAssertNil(delivered.result.dropped, "the genuine message with the same counter is still accepted")
        XCTAssertEqual(delivered.packet?.last, 0x11)
        XCTAssertEqual(device.receive(genuine, from: source, now: .seconds(1), using: &generator).result.dropped, .replayedCounter)
    }

    func testTwoCopiesOpenedAtOnceAreDeliveredOnce() {
        var network = connectedPair()
        let message = capturedMessage(&network, fill: 0x22)
        var device = network.devices[1]
        let source = network.endpoints[0]
        var generator = SeededGenerator(state: 4)
        // Both copies pass the pre-check before either is recorded (two receivers racing).
        var first = message
        var second = message
        let steps = [first, second].map { copy in
            copy.withUnsafeBytes { device.beginReceive(datagram: $0, count: $0.count, from: source, now: .seconds(1), using: &generator) }
        }
        guard case .open(let ticketOne) = steps[0], case .open(let ticketTwo) = steps[1] else {
            return XCTFail("both copies should pass the pre-check")
        }
        let openedOne = first.withUnsafeMutableBytes { raw in
            Result { () throws(TransportError) in try ticketOne.open(inPlace: raw, count: raw.count) }
        }
        let openedTwo = second.withUnsafeMutableBytes { raw in
            Result { () throws(TransportError) in try ticketTwo.open(inPlace: raw, count: raw.count) }
        }
        let resultOne = first.withUnsafeBytes {
            device.finishReceive(
                ticketOne, opened: openedOne, datagram: $0, count: $0.count, from: source, now: .seconds(1), using: &generator)
        }
        let resultTwo = second.withUnsafeBytes {
            device.finishReceive(
                ticketTwo, opened: openedTwo, datagram: $0, count: $0.count, from: source, now: .seconds(1), using: &generator)
        }
        XCTAssertNotNil(resultOne.packet)
        XCTAssertNil(resultOne.dropped)
        XCTAssertNil(resultTwo.packet)
        XCTAssertEqual(resultTwo.dropped, .replayedCounter)
        XCTAssertEqual(device.drops[.replayedCounter], 1)
    }

    func testConcurrentSendersNeverReserveTheSameCounter() {
        let network = connectedPair()
        let peerB = network.devices[1].publicKey
        let first = network.devices[0].keypairs(of: peerB)?.current?.sendCounter ?? 0
        let device = Mutex(network.devices[0])
        let perThread = 100_000
        let packet = TestPackets.ipv4(source: SimulatedNetwork.inner(1), destination: SimulatedNetwork.inner(2), payloadCount: 44)
        let collected = Mutex<[(counters: [UInt64], last: [UInt8])]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { thread in
            var generator = SeededGenerator(state: UInt64(20 + thread))
            var counters: [UInt64] = []
            counters.reserveCapacity(perThread)
            var buffer = [UInt8](repeating: 0, count: Keypair.messageCount(forPacket: packet.count))
            for _ in 0..<perThread {
                let reservation = packet.withUnsafeBytes { inner in
                    device.withLock { $0.beginSend(packet: inner, now: .seconds(1), using: &generator) }
                }
                guard let ticket = reservation.ticket else { continue }
                buffer.replaceSubrange(16..<16 + packet.count, with: packet)
                // Sealed with no lock held, while the other thread reserves and seals.
                let sealed = buffer.withUnsafeMutableBytes { raw in
                    Result { () throws(TransportError) in try ticket.seal(inPlace: raw, packetCount: packet.count) }
                }
                guard case .success = sealed else { continue }
                counters.append(buffer[8..<16].reversed().reduce(0) { $0 << 8 | UInt64($1) })
            }
            collected.withLock { $0.append((counters, buffer)) }
        }
        let threads = collected.withLock { $0 }
        XCTAssertEqual(threads.count, 2)
        let all = threads.flatMap(\.counters)
        XCTAssertEqual(all.count, 2 * perThread, "every packet was sealed")
        XCTAssertEqual(Set(all).count, all.count, "no counter (nonce) was used twice")
        XCTAssertEqual(all.min(), first)
        XCTAssertEqual(all.max(), first + UInt64(2 * perThread) - 1, "no counter skipped")
        for thread in threads { XCTAssertEqual(thread.counters, thread.counters.sorted(), "each thread's counters increase") }
        XCTAssertEqual(device.withLock { $0.keypairs(of: peerB)?.current?.sendCounter }, first + UInt64(2 * perThread))

        // Each thread's last message opens at the peer (lower counter first: both stay in its window).
        var receiver = network.devices[1]
        var generator = SeededGenerator(state: 5)
        for message in threads.map(\.last).sorted(by: { counter(of: $0) < counter(of: $1) }) {
            let delivered = receiver.receive(message, from: network.endpoints[0], now: .seconds(1), using: &generator)
            XCTAssertEqual(delivered.packet, packet, "sealed outside the lock, opened intact")
        }
    }
}
