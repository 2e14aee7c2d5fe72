// The cookie round trip: a responder under load answers with a cookie reply instead of a
// response, the initiator opens it and retries with mac2, the responder accepts; secrets and
// cookies expire after two minutes of the time passed in.
import WireGuardCrypto
import WireGuardProtocol
import XCTest

final class CookieTests: XCTestCase {
    let source: [UInt8] = [10, 0, 0, 1, 0x1f, 0x90]

    func testUnderLoadCookieRoundTrip() throws {
        var random = SeededGenerator(state: 42)
        var generator = CookieGenerator(remotePublicKey: Fixture.responderStatic.publicKey)
        var checker = CookieChecker(localPublicKey: Fixture.responderStatic.publicKey)

        var (_, first) = try Fixture.initiate()
        generator.addMACs(to: &first, now: .seconds(10))
        XCTAssertEqual(first.mac2, .zero)
        XCTAssertTrue(checker.checkMAC1(first))
        XCTAssertFalse(checker.checkMAC2(first, source: source, now: .seconds(10)))
        XCTAssertEqual(try checker.verify(first, source: source, now: .seconds(10), underLoad: true), .sendCookie)
        XCTAssertEqual(try checker.verify(first, source: source, now: .seconds(10), underLoad: false), .accept)
        let reply = checker.makeReply(to: first, receiverIndex: first.senderIndex, source: source, now: .seconds(10), using: &random)
        XCTAssertEqual(reply.receiverIndex, Fixture.initiatorIndex)

        try generator.consume(try CookieReply(parsing: reply.bytes), now: .seconds(11))
        XCTAssertTrue(generator.hasCookie(now: .seconds(11)))
        let retryStamp = TAI64N(seconds: Fixture.timestamp.seconds + 1, nanoseconds: 0)
        var (initiator, retry) = try Fixture.initiate(timestamp: retryStamp, ephemeral: PrivateKey(clamping: .filled(8)))
        generator.addMACs(to: &retry, now: .seconds(12))
        XCTAssertNotEqual(retry.mac2, .zero)
        let received = try HandshakeInitiation(parsing: retry.bytes)
        XCTAssertTrue(checker.checkMAC1(received))
        XCTAssertTrue(checker.checkMAC2(received, source: source, now: .seconds(12)))
        XCTAssertEqual(try checker.verify(received, source: source, now: .seconds(12), underLoad: true), .accept)
        XCTAssertFalse(checker.checkMAC2(received, source: [10, 0, 0, 2, 0x1f, 0x90], now: .seconds(12)), "cookie bound to the source")

        // The retried handshake completes.
        let responder = try Responder.consume(received, local: Fixture.responderStatic, lookup: Fixture.lookup(latest: Fixture.timestamp))
        let (response, responderKeys) = try responder.respond(ephemeral: Fixture.responderEphemeral, senderIndex: Fixture.responderIndex)
        let keys = try initiator.consume(response: response, local: Fixture.initiatorStatic)
        XCTAssertTrue(keys.sendingKey.constantTimeEquals(responderKeys.receivingKey))
    }

    func testSecretAndCookieExpireAfterTwoMinutes() throws {
        var random = SeededGenerator(state: 7)
        var generator = CookieGenerator(remotePublicKey: Fixture.responderStatic.publicKey)
        var checker = CookieChecker(localPublicKey: Fixture.responderStatic.publicKey)
        var (_, message) = try Fixture.initiate()
        generator.addMACs(to: &message, now: .zero)
        let reply = checker.makeReply(to: message, receiverIndex: 1, source: source, now: .zero, using: &random)
        try generator.consume(reply, now: .zero)
        generator.addMACs(to: &message, now: .seconds(119))
        XCTAssertTrue(checker.checkMAC2(message, source: source, now: .seconds(119)))
        XCTAssertFalse(checker.checkMAC2(message, source: source, now: .seconds(120)), "secret older than two minutes")
        XCTAssertFalse(generator.hasCookie(now: .seconds(120)))
        generator.addMACs(to: &message, now: .seconds(120))
        XCTAssertEqual(message.mac2, .zero, "an expired cookie is not used")

        // A new reply rotates the secret: the old cookie's mac2 no longer passes.
        var (_, old) = try Fixture.initiate()
        var oldGenerator = CookieGenerator(remotePublicKey: Fixture.responderStatic.publicKey)
        oldGenerator.addMACs(to: &old, now: .zero)
        try oldGenerator.consume(
            checker.makeReply(to: old, receiverIndex: 1, source: source, now: .seconds(100), using: &random), now: .seconds(100))
        _ = checker.makeReply(to: message, receiverIndex: 1, source: source, now: .seconds(230), using: &random)
        oldGenerator.addMACs(to: &old, now: .seconds(210))
        XCTAssertNotEqual(old.mac2, .zero)
        XCTAssertFalse(checker.checkMAC2(old, source: source, now: .seconds(230)))
    }

    func testCookieReplyForAnotherMessageOrAlteredIsRefused() throws {
        var random = SeededGenerator(state: 3)
        var checker = CookieChecker(localPublicKey: Fixture.responderStatic.publicKey)
        var generator = CookieGenerator(remotePublicKey: Fixture.responderStatic.publicKey)
        var (_, message) = try Fixture.initiate()
        let unsolicited = checker.makeReply(to: message, receiverIndex: 1, source: source, now: .zero, using: &random)
        XCTAssertThrowsError(try generator.consume(unsolicited, now: .zero)) {
            XCTAssertEqual($0 as? HandshakeError, .unexpectedCookieReply)
        }

        generator.addMACs(to: &message, now: .zero)
        // The reply computed before mac1 was set authenticates a different mac1.
        XCTAssertThrowsError(try generator.consume(unsolicited, now: .zero)) {
            XCTAssertEqual($0 as? HandshakeError, .cookieDecryptionFailed)
        }
        let reply = checker.makeReply(to: message, receiverIndex: 1, source: source, now: .zero, using: &random)
        for offset in [10, 40, 60] {  // nonce, cookie, tag
            var bytes = reply.bytes
            bytes[offset] ^= 2
            XCTAssertThrowsError(try generator.consume(try CookieReply(parsing: bytes), now: .zero)) {
                XCTAssertEqual($0 as? HandshakeError, .cookieDecryptionFailed)
            }
        }
        XCTAssertFalse(generator.hasCookie(now: .zero))
        // A cookie reply sealed for another responder's key does not open.
        var stranger = CookieChecker(localPublicKey: Fixture.initiatorStatic.publicKey)
        let foreign = stranger.makeReply(to: message, receiverIndex: 1, source: source, now: .zero, using: &random)
        XCTAssertThrowsError(try generator.consume(foreign, now: .zero)) { XCTAssertEqual($0 as? HandshakeError, .cookieDecryptionFailed) }
        try generator.consume(reply, now: .zero)
        XCTAssertTrue(generator.hasCookie(now: .zero))
    }
}
