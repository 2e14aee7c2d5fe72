// The Noise_IKpsk2 handshake between two of our own peers with fixed keys: both sides derive the
// same transport keys, and each mis-authenticated message is refused with its typed error.
import WireGuardCrypto
import WireGuardProtocol
import XCTest

final class HandshakeTests: XCTestCase {
    private func assertHandshakeError(_ expected: HandshakeError, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), line: line) { XCTAssertEqual($0 as? HandshakeError, expected, line: line) }
    }

    func testFullHandshakeGivesBothSidesTheSameKeys() throws {
        var initiatorMACs = CookieGenerator(remotePublicKey: Fixture.responderStatic.publicKey)
        var responderMACs = CookieGenerator(remotePublicKey: Fixture.initiatorStatic.publicKey)
        let responderChecks = CookieChecker(localPublicKey: Fixture.responderStatic.publicKey)
        let initiatorChecks = CookieChecker(localPublicKey: Fixture.initiatorStatic.publicKey)

        var (initiator, initiation) = try Fixture.initiate()
        initiatorMACs.addMACs(to: &initiation, now: .zero)
        let received = try HandshakeInitiation(parsing: initiation.bytes)
        XCTAssertTrue(responderChecks.checkMAC1(received))
        let responder = try Responder.consume(received, local: Fixture.responderStatic, lookup: Fixture.lookup())
        XCTAssertEqual(responder.peer, Fixture.initiatorStatic.publicKey)
        XCTAssertEqual(responder.timestamp, Fixture.timestamp)
        XCTAssertEqual(responder.remoteIndex, Fixture.initiatorIndex)

        var (response, responderKeys) = try responder.respond(ephemeral: Fixture.responderEphemeral, senderIndex: Fixture.responderIndex)
        responderMACs.addMACs(to: &response, now: .zero)
        let receivedResponse = try HandshakeResponse(parsing: response.bytes)
        XCTAssertTrue(initiatorChecks.checkMAC1(receivedResponse))
        let initiatorKeys = try initiator.consume(response: receivedResponse, local: Fixture.initiatorStatic)

        XCTAssertTrue(initiatorKeys.sendingKey.constantTimeEquals(responderKeys.receivingKey))
        XCTAssertTrue(initiatorKeys.receivingKey.constantTimeEquals(responderKeys.sendingKey))
        XCTAssertFalse(initiatorKeys.sendingKey.constantTimeEquals(initiatorKeys.receivingKey))
        XCTAssertTrue(initiatorKeys.handshakeHash.constantTimeEquals(responderKeys.handshakeHash))
        XCTAssertEqual(initiatorKeys.localIndex, Fixture.initiatorIndex)
        XCTAssertEqual(initiatorKeys.remoteIndex, Fixture.responderIndex)
        XCTAssertEqual(responderKeys.localIndex, Fixture.responderIndex)
        XCTAssertEqual(responderKeys.remoteIndex, Fixture.initiatorIndex)
        XCTAssertTrue(initiatorKeys.isInitiator)
        XCTAssertFalse(responderKeys.isInitiator)

        // The keys carry data: a packet sealed by one side opens on the other.
        let packet = Array("ping".utf8)
        let sealed = ChaCha20Poly1305(key: initiatorKeys.sendingKey).seal(packet, nonce: .init(counter: 0))
        XCTAssertEqual(try ChaCha20Poly1305(key: responderKeys.receivingKey).open(sealed, nonce: .init(counter: 0)), packet)
    }

    func testWrongMAC1IsRefused() throws {
        var (_, initiation) = try Fixture.initiate()
        let checker = CookieChecker(localPublicKey: Fixture.responderStatic.publicKey)
        XCTAssertFalse(checker.checkMAC1(initiation), "a zero mac1 passed")
        // Stamped for another responder's key.
        var wrongPeer = CookieGenerator(remotePublicKey: Fixture.initiatorStatic.publicKey)
        wrongPeer.addMACs(to: &initiation, now: .zero)
        XCTAssertFalse(checker.checkMAC1(initiation))
        // Stamped correctly, then one byte of the body altered.
        var generator = CookieGenerator(remotePublicKey: Fixture.responderStatic.publicKey)
        generator.addMACs(to: &initiation, now: .zero)
        XCTAssertTrue(checker.checkMAC1(initiation))
        var bytes = initiation.bytes
        bytes[20] ^= 1
        let altered = try HandshakeInitiation(parsing: bytes)
        XCTAssertFalse(checker.checkMAC1(altered))
        assertHandshakeError(.invalidMAC1) { _ = try checker.verify(altered, source: [], now: .zero, underLoad: false) }
        XCTAssertEqual(try checker.verify(initiation, source: [], now: .zero, underLoad: false), .accept)
    }

    func testInitiationToAnotherStaticKeyIsRefused() throws {
        let stranger = PrivateKey(clamping: .filled(9))
        let (_, initiation) = try Fixture.initiate(responder: stranger.publicKey)
        assertHandshakeError(.staticDecryptionFailed) {
            _ = try Responder.consume(initiation, local: Fixture.responderStatic, lookup: Fixture.lookup())
        }
    }

    func testInitiationFromAnUnknownStaticIsRefused() throws {
        let (_, initiation) = try Fixture.initiate()
        assertHandshakeError(.unknownPeer) {
            _ = try Responder.consume(initiation, local: Fixture.responderStatic, lookup: { _ in nil })
        }
    }

    func testAlteredEncryptedFieldsAreRefused() throws {
        let (_, initiation) = try Fixture.initiate()
        for (offset, expected) in [
            (45, HandshakeError.staticDecryptionFailed), (100, .timestampDecryptionFailed), (10, .staticDecryptionFailed),
        ] {
            var bytes = initiation.bytes
            bytes[offset] ^= 0x10
            assertHandshakeError(expected) {
                _ = try Responder.consume(try HandshakeInitiation(parsing: bytes), local: Fixture.responderStatic, lookup: Fixture.lookup())
            }
        }
    }

    func testReplayedOrOlderTimestampIsRefused() throws {
        let (_, initiation) = try Fixture.initiate()
        assertHandshakeError(.replayedTimestamp) {
            _ = try Responder.consume(initiation, local: Fixture.responderStatic, lookup: Fixture.lookup(latest: Fixture.timestamp))
        }
        let later = TAI64N(seconds: Fixture.timestamp.seconds + 1, nanoseconds: 0)
        assertHandshakeError(.replayedTimestamp) {
            _ = try Responder.consume(initiation, local: Fixture.responderStatic, lookup: Fixture.lookup(latest: later))
        }
        let earlier = TAI64N(seconds: Fixture.timestamp.seconds - 1, nanoseconds: 0)
        XCTAssertNoThrow(try Responder.consume(initiation, local: Fixture.responderStatic, lookup: Fixture.lookup(latest: earlier)))
    }

    func testResponseWithWrongPresharedKeyIndexOrTagIsRefused() throws {
        let (initiator, initiation) = try Fixture.initiate()
        let otherPSK: (PublicKey) -> ResponderPeer? = { _ in ResponderPeer(presharedKey: .filled(6)) }
        let wrongPSK = try Responder.consume(initiation, local: Fixture.responderStatic, lookup: otherPSK)
        let (badResponse, _) = try wrongPSK.respond(ephemeral: Fixture.responderEphemeral, senderIndex: Fixture.responderIndex)
        assertHandshakeError(.responseDecryptionFailed) { _ = try initiator.consume(response: badResponse, local: Fixture.initiatorStatic) }

        let responder = try Responder.consume(initiation, local: Fixture.responderStatic, lookup: Fixture.lookup())
        let (response, _) = try responder.respond(ephemeral: Fixture.responderEphemeral, senderIndex: Fixture.responderIndex)
        var misaddressed = response.bytes
        misaddressed[8] ^= 1
        assertHandshakeError(.unexpectedReceiverIndex(Fixture.initiatorIndex ^ 1)) {
            _ = try initiator.consume(response: try HandshakeResponse(parsing: misaddressed), local: Fixture.initiatorStatic)
        }
        for offset in [20, 50] {  // ephemeral, tag
            var altered = response.bytes
            altered[offset] ^= 4
            assertHandshakeError(.responseDecryptionFailed) {
                _ = try initiator.consume(response: try HandshakeResponse(parsing: altered), local: Fixture.initiatorStatic)
            }
        }
    }

    func testLowOrderEphemeralIsRefused() throws {
        let (_, initiation) = try Fixture.initiate()
        var bytes = initiation.bytes
        bytes.replaceSubrange(8..<40, with: [UInt8](repeating: 0, count: 32))
        assertHandshakeError(.zeroSharedSecret) {
            _ = try Responder.consume(try HandshakeInitiation(parsing: bytes), local: Fixture.responderStatic, lookup: Fixture.lookup())
        }
    }
}
