// The out-of-place receive path the provider uses (OpenTicket.open(_:into:) straight into the TUN
// batch, then finishReceive(_:opened:plaintext:…)): the packet delivered is the in-place path's,
// from the start of the plaintext buffer; a forged message leaves only zeros and records no counter;
// a replay found late is refused.
import WireGuardCrypto
import WireGuardDevice
import XCTest

final class DeviceOutOfPlaceReceiveTests: XCTestCase {
    private func connectedPair() -> SimulatedNetwork {
        var network = SimulatedNetwork.mesh(2, timers: .standard)
        network.sendPacket(from: 0, toHost: 2)
        network.run()
        XCTAssertEqual(network.deliveredPackets(at: 1, fromHost: 1).count, 1, "the handshake and first packet went through")
        return network
    }

    private func capturedMessage(_ network: inout SimulatedNetwork, fill: UInt8) -> [UInt8] {
        network.filter = { _ in false }
        let result = network.sendPacket(from: 0, toHost: 2, fill: fill)
        XCTAssertNotNil(result.messageCount)
        network.filter = { _ in true }
        return network.log.last?.bytes ?? []
    }

    /// begin → open into `output` → finish, as DataPlane's receive thread does.
    private func receiveOutOfPlace(
        _ device: inout WireGuardDevice, _ message: [UInt8], into output: inout [UInt8], from source: Endpoint,
        generator: inout SeededGenerator
    ) -> (opened: Result<Int, TransportError>?, result: InboundResult?) {
        let step = message.withUnsafeBytes {
            device.beginReceive(datagram: $0, count: $0.count, from: source, now: .seconds(1), using: &generator)
        }
        guard case .open(let ticket) = step else { return (nil, nil) }
        let opened = message.withUnsafeBytes { datagram in
            output.withUnsafeMutableBytes { slot in Result { () throws(TransportError) in try ticket.open(datagram, into: slot) } }
        }
        let count = (try? opened.get()) ?? 0  // try?: a failure is checked by the caller through `opened`
        let result = output.withUnsafeBytes { plaintext in
            device.finishReceive(
                ticket, opened: opened, plaintext: UnsafeRawBufferPointer(rebasing: plaintext[0..<count]), datagramCount: message.count,
                from: source, now: .seconds(1), using: &generator)
        }
        return (opened, result)
    }

    func testDeliversWhatTheInPlacePathDelivers() throws {
        var network = connectedPair()
        let message = capturedMessage(&network, fill: 0x5a)
        var inPlaceDevice = network.devices[1]
        var device = network.devices[1]
        let source = network.endpoints[0]
        var generator = SeededGenerator(state: 7)
        let expected = inPlaceDevice.receive(message, from: source, now: .seconds(1), using: &generator)
        let packet = try XCTUnwrap(expected.packet)

        var output = [UInt8](repeating: 0xee, count: message.count)
        let (opened, result) = receiveOutOfPlace(&device, message, into: &output, from: source, generator: &generator)
        XCTAssertEqual(try opened?.get(), message.count - 32)
        let range = try XCTUnwrap(result?.packet)
        XCTAssertEqual(range.lowerBound, 0, "the packet starts the plaintext buffer")
        XCTAssertEqual(Array(output[range]), packet)
        XCTAssertNil(result?.dropped)
        XCTAssertEqual(result?.peer, network.devices[0].publicKey)

        var again = [UInt8](repeating: 0, count: message.count)  // the same message again: a replay
        let (_, replayed) = receiveOutOfPlace(&device, message, into: &again, from: source, generator: &generator)
        XCTAssertTrue(replayed == nil || replayed?.dropped == .replayedCounter, "a replay is refused before or after the open")
        XCTAssertNil(replayed?.packet)
    }

    func testForgedMessageLeavesZerosAndNoCounter() {
        var network = connectedPair()
        let genuine = capturedMessage(&network, fill: 0x33)
        var forged = genuine
        forged[forged.count - 1] ^= 0x01
        var device = network.devices[1]
        let source = network.endpoints[0]
        var generator = SeededGenerator(state: 8)
        let peerA = network.devices[0].publicKey
        let windowBefore = device.keypairs(of: peerA)?.current?.replay

        var output = [UInt8](repeating: 0xee, count: genuine.count)
        let (opened, result) = receiveOutOfPlace(&device, forged, into: &output, from: source, generator: &generator)
        if case .failure(let error)? = opened { XCTAssertEqual(error, .authenticationFailed) } else { XCTFail("a forged tag opened") }
        XCTAssertEqual(result?.dropped, .authenticationFailed)
        XCTAssertNil(result?.packet)
        XCTAssertTrue(output[0..<(genuine.count - 32)].allSatisfy { $0 == 0 }, "no unauthenticated plaintext left behind")
        XCTAssertEqual(device.keypairs(of: peerA)?.current?.replay, windowBefore, "a forged message records no counter")

        let (_, delivered) = receiveOutOfPlace(&device, genuine, into: &output, from: source, generator: &generator)
        XCTAssertNotNil(delivered?.packet, "the genuine message with the same counter is still accepted")
    }

    func testTooSmallOutputIsTyped() throws {
        var network = connectedPair()
        let message = capturedMessage(&network, fill: 0x44)
        let device = network.devices[1]
        let source = network.endpoints[0]
        var generator = SeededGenerator(state: 9)
        var copy = device
        let step = message.withUnsafeBytes {
            copy.beginReceive(datagram: $0, count: $0.count, from: source, now: .seconds(1), using: &generator)
        }
        guard case .open(let ticket) = step else { return XCTFail("the pre-check should pass") }
        var small = [UInt8](repeating: 0, count: message.count - 33)
        XCTAssertThrowsError(
            try message.withUnsafeBytes { datagram in try small.withUnsafeMutableBytes { try ticket.open(datagram, into: $0) } }
        ) {
            XCTAssertEqual($0 as? TransportError, .bufferTooSmall(needed: message.count - 32, available: message.count - 33))
        }
    }
}
