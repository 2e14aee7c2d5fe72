// Tamper and misuse tests for the in-place AEADs: a flipped bit anywhere fails open with a typed
// error and leaves no plaintext behind (the buffer is zeroed), and sizes are checked.
import WireGuardCrypto
import XCTest

final class AEADTamperTests: XCTestCase {
    let aead = ChaCha20Poly1305(key: .filled(0x42))
    let ad = Array("header".utf8)
    let plaintext = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 7) }

    private func sealed(counter: UInt64 = 9) -> [UInt8] {
        aead.seal(plaintext, nonce: .init(counter: counter), authenticating: ad)
    }

    /// Opens in place and checks the failure is typed and the buffer holds nothing usable.
    private func assertRefused(_ ciphertext: [UInt8], counter: UInt64 = 9, ad: [UInt8], line: UInt = #line) {
        var buffer = ciphertext
        let result = ad.withUnsafeBytes { adRaw in
            buffer.withUnsafeMutableBytes { raw in
                Result { () throws(CryptoError) in
                    try aead.open(inPlace: raw, ciphertextCount: raw.count, nonce: .init(counter: counter), authenticating: adRaw)
                }
            }
        }
        XCTAssertEqual(result, .failure(.authenticationFailed), line: line)
        XCTAssertEqual(buffer, [UInt8](repeating: 0, count: ciphertext.count), "unauthenticated bytes left in the buffer", line: line)
    }

    func testRoundTripInPlaceEveryLengthUpToTwoBlocks() throws {
        for count in 0...130 {
            var buffer = [UInt8](repeating: 0xa5, count: count + 16)
            let original = Array(buffer[0..<count])
            let sealedCount = try buffer.withUnsafeMutableBytes {
                try aead.seal(inPlace: $0, plaintextCount: count, nonce: .init(counter: UInt64(count)))
            }
            XCTAssertEqual(sealedCount, count + 16)
            if count > 0 { XCTAssertNotEqual(Array(buffer[0..<count]), original) }
            let opened = try buffer.withUnsafeMutableBytes {
                try aead.open(inPlace: $0, ciphertextCount: sealedCount, nonce: .init(counter: UInt64(count)))
            }
            XCTAssertEqual(opened, count)
            XCTAssertEqual(Array(buffer[0..<count]), original)
        }
    }

    func testFlippedBitInCiphertextTagOrADIsRefused() {
        let good = sealed()
        XCTAssertEqual(try aead.open(good, nonce: .init(counter: 9), authenticating: ad), plaintext)
        for index in [0, 50, 99] {  // ciphertext
            var bad = good
            bad[index] ^= 0x01
            assertRefused(bad, ad: ad)
        }
        for index in [100, 108, 115] {  // tag
            var bad = good
            bad[index] ^= 0x80
            assertRefused(bad, ad: ad)
        }
        var badAD = ad
        badAD[0] ^= 0x01
        assertRefused(good, ad: badAD)
        assertRefused(good, ad: [])
        assertRefused(good, counter: 10, ad: ad)
    }

    func testWrongKeyIsRefused() {
        let other = ChaCha20Poly1305(key: .filled(0x43))
        XCTAssertThrowsError(try other.open(sealed(), nonce: .init(counter: 9), authenticating: ad)) {
            XCTAssertEqual($0 as? CryptoError, .authenticationFailed)
        }
    }

    func testShortCiphertextAndSmallBuffersAreTyped() {
        XCTAssertThrowsError(try aead.open([UInt8](repeating: 0, count: 15), nonce: .init(counter: 0))) {
            XCTAssertEqual($0 as? CryptoError, .authenticationFailed)
        }
        var small = [UInt8](repeating: 0, count: 20)
        XCTAssertThrowsError(try small.withUnsafeMutableBytes { try aead.seal(inPlace: $0, plaintextCount: 5, nonce: .init(counter: 0)) }) {
            XCTAssertEqual($0 as? CryptoError, .bufferTooSmall(needed: 21, available: 20))
        }
        XCTAssertThrowsError(try small.withUnsafeMutableBytes { try aead.open(inPlace: $0, ciphertextCount: 21, nonce: .init(counter: 0)) })
        {
            XCTAssertEqual($0 as? CryptoError, .authenticationFailed)
        }
    }

    func testWireGuardNonceIsZeroThenLittleEndianCounter() throws {
        let explicit = try ChaCha20Poly1305.Nonce(bytes: [0, 0, 0, 0, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01])
        XCTAssertEqual(ChaCha20Poly1305.Nonce(counter: 0x0102_0304_0506_0708), explicit)
        XCTAssertThrowsError(try ChaCha20Poly1305.Nonce(bytes: [0])) {
            XCTAssertEqual($0 as? CryptoError, .wrongLength(expected: 12, actual: 1))
        }
    }

    func testXChaChaTamperIsRefusedAndZeroed() throws {
        let xaead = XChaCha20Poly1305(key: .filled(0x11))
        let nonce = [UInt8](repeating: 0x22, count: 24)
        var buffer = [UInt8](repeating: 0x33, count: 16 + 16)
        _ = try buffer.withUnsafeMutableBytes { raw in
            try nonce.withUnsafeBytes { try xaead.seal(inPlace: raw, plaintextCount: 16, nonce: $0) }
        }
        buffer[3] ^= 0x04
        let result = buffer.withUnsafeMutableBytes { raw in
            nonce.withUnsafeBytes { n in
                Result { () throws(CryptoError) in try xaead.open(inPlace: raw, ciphertextCount: raw.count, nonce: n) }
            }
        }
        XCTAssertEqual(result, .failure(.authenticationFailed))
        XCTAssertEqual(buffer, [UInt8](repeating: 0, count: 32))
        let shortNonce = [UInt8](repeating: 0, count: 12)
        XCTAssertThrowsError(
            try buffer.withUnsafeMutableBytes { raw in
                try shortNonce.withUnsafeBytes { try xaead.open(inPlace: raw, ciphertextCount: 32, nonce: $0) }
            }
        ) {
            XCTAssertEqual($0 as? CryptoError, .wrongLength(expected: 24, actual: 12))
        }
    }

    func testKeyTypesRefuseWrongLengthsAndCompareInConstantTime() {
        XCTAssertThrowsError(try SecretKey(bytes: [UInt8](repeating: 0, count: 31))) {
            XCTAssertEqual($0 as? CryptoError, .wrongLength(expected: 32, actual: 31))
        }
        XCTAssertThrowsError(try PublicKey(bytes: [UInt8](repeating: 0, count: 33)))
        XCTAssertTrue(SecretKey.filled(1).constantTimeEquals(.filled(1)))
        XCTAssertFalse(SecretKey.filled(1).constantTimeEquals(.filled(2)))
        XCTAssertTrue(SecretKey.zero.isZero)
        XCTAssertFalse(SecretKey.filled(1).isZero)
    }
}
