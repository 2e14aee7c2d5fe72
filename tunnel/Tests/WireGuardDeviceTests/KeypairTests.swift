// Keypair and Keypairs: in-place transport encryption with padding, keepalives, counter checks and
// the confirmation rule, with keys from a real handshake between two fixed identities.
import WireGuardCrypto
import WireGuardDevice
import WireGuardProtocol
import XCTest

final class KeypairTests: XCTestCase {
    /// Both sides' sessions from one handshake.
    static func sessionPair(now: Duration = .zero, limit: UInt64 = WireGuardTimers.standard.rejectAfterMessages) -> (Keypair, Keypair) {
        var generator = SeededGenerator(state: 5)
        let initiatorKey = PrivateKey(clamping: .filled(1))
        let responderKey = PrivateKey(clamping: .filled(2))
        // Fixed test keys are valid points; these cannot fail.
        let (initiator, message) = try! Initiator.start(  // fixed valid keys
            local: initiatorKey, peer: responderKey.publicKey, presharedKey: .zero, ephemeral: .generate(using: &generator),
            senderIndex: 11, timestamp: TAI64N(unixSeconds: 1, nanoseconds: 0))
        let responder = try! Responder.consume(message, local: responderKey) { _ in ResponderPeer() }  // our own valid message
        let (response, responderKeys) = try! responder.respond(ephemeral: .generate(using: &generator), senderIndex: 22)  // valid keys
        let initiatorKeys = try! initiator.consume(response: response, local: initiatorKey)  // our own valid response
        return (
            Keypair(keys: initiatorKeys, createdAt: now, rejectAfterMessages: limit),
            Keypair(keys: responderKeys, createdAt: now, rejectAfterMessages: limit)
        )
    }

    func testPaddingRoundTripForEveryLength() throws {
        var (sender, receiver) = Self.sessionPair()
        for length in 0...100 {
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
            var buffer = [UInt8](repeating: 0xee, count: Keypair.messageCount(forPacket: length))
            buffer.replaceSubrange(16..<16 + length, with: payload)
            let count = try buffer.withUnsafeMutableBytes { try sender.encrypt(inPlace: $0, packetCount: length) }
            XCTAssertEqual(count, 32 + (length + 15) / 16 * 16)
            XCTAssertEqual(buffer[0], 4)
            XCTAssertEqual(Array(buffer[4..<8]), [22, 0, 0, 0], "receiver is the responder's index")
            let opened = try buffer.withUnsafeMutableBytes { try receiver.decrypt(inPlace: $0, count: count) }
            XCTAssertEqual(opened, (length + 15) / 16 * 16)
            XCTAssertEqual(Array(buffer[16..<16 + length]), payload)
            XCTAssertTrue(buffer[16 + length..<16 + opened].allSatisfy { $0 == 0 }, "zero padding")
        }
        XCTAssertEqual(sender.sendCounter, 101)
    }

    /// Sealing out of place (from the packet's own buffer into the datagram's) gives the bytes the
    /// in-place seal gives for the same counter, zeroes the padding in the packet's buffer, and opens.
    func testOutOfPlaceSealMatchesInPlace() throws {
        var (sender, receiver) = Self.sessionPair()
        var (twin, _) = Self.sessionPair()
        for length in [0, 1, 15, 16, 17, 100, 1420] {
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 3 &+ 9) }
            var inPlace = [UInt8](repeating: 0xee, count: Keypair.messageCount(forPacket: length))
            inPlace.replaceSubrange(16..<16 + length, with: payload)
            let expected = try inPlace.withUnsafeMutableBytes { try twin.encrypt(inPlace: $0, packetCount: length) }
            var packet = payload + [UInt8](repeating: 0xcc, count: Keypair.paddedCount(length) - length)
            var output = [UInt8](repeating: 0x11, count: Keypair.messageCount(forPacket: length))
            let ticket = try sender.reserveSend()
            let count = try packet.withUnsafeMutableBytes { inner in
                try output.withUnsafeMutableBytes { try ticket.seal(packet: inner, packetCount: length, into: $0) }
            }
            XCTAssertEqual(count, expected)
            XCTAssertEqual(output, inPlace, "length \(length)")
            XCTAssertEqual(Array(packet[..<length]), payload, "the packet is not changed")
            XCTAssertTrue(packet[length...].allSatisfy { $0 == 0 }, "padding zeroed in the packet's buffer")
            let opened = try output.withUnsafeMutableBytes { try receiver.decrypt(inPlace: $0, count: count) }
            XCTAssertEqual(Array(output[16..<16 + length]), payload)
            XCTAssertEqual(opened, Keypair.paddedCount(length))
        }
        // No room for the padding in the packet's buffer, or for the message in the output: typed refusals.
        var short = [UInt8](repeating: 0, count: 20)
        var output = [UInt8](repeating: 0, count: 64)
        let ticket = try sender.reserveSend()
        XCTAssertThrowsError(
            try short.withUnsafeMutableBytes { inner in
                try output.withUnsafeMutableBytes { try ticket.seal(packet: inner, packetCount: 20, into: $0) }
            }
        ) { XCTAssertEqual($0 as? TransportError, .bufferTooSmall(needed: 64, available: 52)) }
        var packet = [UInt8](repeating: 0, count: 32)
        var small = [UInt8](repeating: 0, count: 63)
        XCTAssertThrowsError(
            try packet.withUnsafeMutableBytes { inner in
                try small.withUnsafeMutableBytes { try ticket.seal(packet: inner, packetCount: 20, into: $0) }
            }
        ) { XCTAssertEqual($0 as? TransportError, .bufferTooSmall(needed: 64, available: 63)) }
    }

    func testReplayTamperAndShortBuffers() throws {
        var (sender, receiver) = Self.sessionPair()
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = try buffer.withUnsafeMutableBytes { try sender.encrypt(inPlace: $0, packetCount: 20) }
        let copy = buffer
        _ = try buffer.withUnsafeMutableBytes { try receiver.decrypt(inPlace: $0, count: count) }
        buffer = copy
        XCTAssertThrowsError(try buffer.withUnsafeMutableBytes { try receiver.decrypt(inPlace: $0, count: count) }) {
            XCTAssertEqual($0 as? TransportError, .replayed)
        }
        var tampered = copy
        tampered[8] = 1  // another counter: the tag no longer matches
        XCTAssertThrowsError(try tampered.withUnsafeMutableBytes { try receiver.decrypt(inPlace: $0, count: count) }) {
            XCTAssertEqual($0 as? TransportError, .authenticationFailed)
        }
        XCTAssertTrue(receiver.replay.wouldAccept(1), "a failed open does not consume the counter")
        var small = [UInt8](repeating: 0, count: 40)
        XCTAssertThrowsError(try small.withUnsafeMutableBytes { try sender.encrypt(inPlace: $0, packetCount: 20) }) {
            XCTAssertEqual($0 as? TransportError, .bufferTooSmall(needed: 64, available: 40))
        }
        XCTAssertThrowsError(try small.withUnsafeMutableBytes { try receiver.decrypt(inPlace: $0, count: 31) }) {
            XCTAssertEqual($0 as? TransportError, .malformed)
        }
    }

    func testCounterLimit() throws {
        var (sender, receiver) = Self.sessionPair(limit: 3)
        var buffer = [UInt8](repeating: 0, count: 32)
        for _ in 0..<3 {
            let count = try buffer.withUnsafeMutableBytes { try sender.encrypt(inPlace: $0, packetCount: 0) }
            XCTAssertEqual(try buffer.withUnsafeMutableBytes { try receiver.decrypt(inPlace: $0, count: count) }, 0, "keepalive")
        }
        XCTAssertThrowsError(try buffer.withUnsafeMutableBytes { try sender.encrypt(inPlace: $0, packetCount: 0) }) {
            XCTAssertEqual($0 as? TransportError, .counterExhausted)
        }
        XCTAssertFalse(
            sender.isUsable(
                now: .zero,
                timers: WireGuardTimers(
                    rekeyAfterMessages: 1, rejectAfterMessages: 3, rekeyAfterTime: .seconds(1), rejectAfterTime: .seconds(2),
                    rekeyAttemptTime: .seconds(1), rekeyTimeout: .seconds(1), rekeyTimeoutJitter: .zero, keepaliveTimeout: .seconds(1),
                    zeroKeysAfter: .seconds(6))))
    }

    func testConfirmationRule() {
        let (initiatorSide, responderSide) = Self.sessionPair()
        var responder = Keypairs()
        responder.install(responderSide)
        XCTAssertNil(responder.current, "the responder does not send on an unconfirmed session")
        XCTAssertEqual(responder.slot(for: 22), .next)
        XCTAssertTrue(responder.confirmNext())
        XCTAssertEqual(responder.current?.localIndex, 22)
        XCTAssertFalse(responder.confirmNext())
        var initiator = Keypairs()
        initiator.install(initiatorSide)
        XCTAssertEqual(initiator.current?.localIndex, 11)
        let (second, _) = Self.sessionPair(now: .seconds(1))
        initiator.install(second)
        XCTAssertEqual(initiator.previous?.createdAt, .zero)
        XCTAssertEqual(initiator.current?.createdAt, .seconds(1))
        initiator.clear()
        XCTAssertTrue(initiator.localIndices.isEmpty)
    }
}
