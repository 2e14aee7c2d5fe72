// Parsing the four WireGuard messages from network bytes: round trips, and every malformation
// refused with its typed error (truncated, wrong length, unknown type, reserved bytes nonzero).
import WireGuardCrypto
import WireGuardProtocol
import XCTest

final class MessageParseTests: XCTestCase {
    private func initiationBytes() throws -> [UInt8] {
        var (_, message) = try Fixture.initiate()
        var generator = CookieGenerator(remotePublicKey: Fixture.responderStatic.publicKey)
        generator.addMACs(to: &message, now: .zero)
        return message.bytes
    }

    func testRoundTripsAreByteExact() throws {
        let initiation = try initiationBytes()
        XCTAssertEqual(initiation.count, 148)
        XCTAssertEqual(try HandshakeInitiation(parsing: initiation).bytes, initiation)
        XCTAssertEqual(try MessageType.classify(initiation.withUnsafeBytes { $0 }), .initiation)

        let (initiator, message) = try Fixture.initiate()
        _ = initiator
        let responder = try Responder.consume(message, local: Fixture.responderStatic, lookup: Fixture.lookup())
        let (response, _) = try responder.respond(ephemeral: Fixture.responderEphemeral, senderIndex: Fixture.responderIndex)
        XCTAssertEqual(response.bytes.count, 92)
        XCTAssertEqual(try HandshakeResponse(parsing: response.bytes), response)

        var checker = CookieChecker(localPublicKey: Fixture.responderStatic.publicKey)
        var random = SeededGenerator(state: 1)
        let reply = checker.makeReply(to: message, receiverIndex: 7, source: [127, 0, 0, 1, 0x12, 0x34], now: .zero, using: &random)
        XCTAssertEqual(reply.bytes.count, 64)
        XCTAssertEqual(try CookieReply(parsing: reply.bytes), reply)

        var packet = [UInt8](repeating: 0, count: 32)
        try packet.withUnsafeMutableBytes { try TransportHeader(receiverIndex: 9, counter: 0x0102_0304_0506_0708).write(into: $0) }
        XCTAssertEqual(Array(packet[0..<16]), [4, 0, 0, 0, 9, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1])
        XCTAssertEqual(
            try packet.withUnsafeBytes { try TransportHeader(parsing: $0) },
            TransportHeader(receiverIndex: 9, counter: 0x0102_0304_0506_0708))
    }

    func testEveryTruncationOfAnInitiationIsTyped() throws {
        let bytes = try initiationBytes()
        for count in 0..<bytes.count {
            let prefix = Array(bytes[0..<count])
            let expected: MessageParseError = count < 4 ? .truncated(count: count) : .wrongLength(.initiation, expected: 148, actual: count)
            XCTAssertThrowsError(try HandshakeInitiation(parsing: prefix)) { XCTAssertEqual($0 as? MessageParseError, expected) }
        }
        XCTAssertThrowsError(try HandshakeInitiation(parsing: bytes + [0])) {
            XCTAssertEqual($0 as? MessageParseError, .wrongLength(.initiation, expected: 148, actual: 149))
        }
    }

    func testHeaderErrorsAreTyped() throws {
        var bytes = try initiationBytes()
        for type: UInt8 in [0, 5, 0xff] {
            bytes[0] = type
            XCTAssertThrowsError(try HandshakeInitiation(parsing: bytes)) { XCTAssertEqual($0 as? MessageParseError, .unknownType(type)) }
        }
        bytes[0] = 1
        for reserved in 1...3 {
            var bad = bytes
            bad[reserved] = 1
            XCTAssertThrowsError(try HandshakeInitiation(parsing: bad)) { XCTAssertEqual($0 as? MessageParseError, .reservedNonzero) }
        }
        XCTAssertThrowsError(try HandshakeResponse(parsing: bytes)) {
            XCTAssertEqual($0 as? MessageParseError, .unexpectedType(expected: .response, actual: .initiation))
        }
        XCTAssertThrowsError(try CookieReply(parsing: [3, 0, 0, 0] + [UInt8](repeating: 0, count: 59))) {
            XCTAssertEqual($0 as? MessageParseError, .wrongLength(.cookieReply, expected: 64, actual: 63))
        }
        let shortTransport = [4, 0, 0, 0] + [UInt8](repeating: 0, count: 27)
        XCTAssertThrowsError(try shortTransport.withUnsafeBytes { try TransportHeader(parsing: $0) }) {
            XCTAssertEqual($0 as? MessageParseError, .wrongLength(.transport, expected: 32, actual: 31))
        }
    }

    func testWritingIntoASmallBufferIsTyped() throws {
        let (_, message) = try Fixture.initiate()
        var small = [UInt8](repeating: 0, count: 147)
        XCTAssertThrowsError(try small.withUnsafeMutableBytes { try message.write(into: $0) }) {
            XCTAssertEqual($0 as? MessageWriteError, .bufferTooSmall(needed: 148, available: 147))
        }
    }

    func testTimestampWireFormAndOrder() {
        let stamp = TAI64N(unixSeconds: 1, nanoseconds: 0x0123_4567)
        XCTAssertEqual(stamp.bytes, [0x40, 0, 0, 0, 0, 0, 0, 0x0b, 0x01, 0, 0, 0])  // nanoseconds whitened to 2^24
        XCTAssertLessThan(TAI64N(seconds: 5, nanoseconds: 9), TAI64N(seconds: 6, nanoseconds: 0))
        XCTAssertLessThan(TAI64N(seconds: 5, nanoseconds: 1), TAI64N(seconds: 5, nanoseconds: 2))
    }
}
