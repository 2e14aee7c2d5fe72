// The out-of-place seal (ChaCha20Poly1305.seal(_:into:nonce:)): the same bytes as sealing in place,
// opened by the in-place open, the input left untouched, and a too-small or partially overlapping
// output refused with a typed error.
import WireGuardCrypto
import XCTest

final class AEADOutOfPlaceTests: XCTestCase {
    let aead = ChaCha20Poly1305(key: .filled(0x42))

    func testOutOfPlaceEqualsInPlaceForEveryLengthUpToTwoBlocks() throws {
        let ad = Array("header".utf8)
        for count in 0...130 {
            let plaintext = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
            var inPlace = plaintext + [UInt8](repeating: 0, count: 16)
            _ = try ad.withUnsafeBytes { adRaw in
                try inPlace.withUnsafeMutableBytes {
                    try aead.seal(inPlace: $0, plaintextCount: count, nonce: .init(counter: UInt64(count)), authenticating: adRaw)
                }
            }
            var output = [UInt8](repeating: 0xa5, count: count + 16 + 3)  // larger than needed: the rest stays as it was
            let written = try ad.withUnsafeBytes { adRaw in
                try plaintext.withUnsafeBytes { input in
                    try output.withUnsafeMutableBytes {
                        try aead.seal(input, into: $0, nonce: .init(counter: UInt64(count)), authenticating: adRaw)
                    }
                }
            }
            XCTAssertEqual(written, count + 16)
            XCTAssertEqual(Array(output[0..<written]), inPlace, "length \(count)")
            XCTAssertEqual(Array(output[written...]), [0xa5, 0xa5, 0xa5])
            XCTAssertEqual(try aead.open(Array(output[0..<written]), nonce: .init(counter: UInt64(count)), authenticating: ad), plaintext)
        }
    }

    func testSmallAndOverlappingOutputsAreRefused() throws {
        let plaintext = [UInt8](repeating: 7, count: 40)
        var small = [UInt8](repeating: 0, count: 55)
        XCTAssertThrowsError(
            try plaintext.withUnsafeBytes { input in
                try small.withUnsafeMutableBytes { try aead.seal(input, into: $0, nonce: .init(counter: 1)) }
            }
        ) { XCTAssertEqual($0 as? CryptoError, .bufferTooSmall(needed: 56, available: 55)) }
        var buffer = [UInt8](repeating: 3, count: 128)
        let before = buffer
        try buffer.withUnsafeMutableBytes { raw in
            let input = UnsafeRawBufferPointer(rebasing: raw[0..<40])
            let shifted = UnsafeMutableRawBufferPointer(rebasing: raw[8..<72])  // overlaps the input, another start
            XCTAssertThrowsError(try aead.seal(input, into: shifted, nonce: .init(counter: 1))) {
                XCTAssertEqual($0 as? CryptoError, .overlappingBuffers)
            }
        }
        XCTAssertEqual(buffer, before, "a refused seal writes nothing")
        // The same start is sealing in place, which BoringSSL allows.
        let sealed = try buffer.withUnsafeMutableBytes { raw in
            try aead.seal(UnsafeRawBufferPointer(rebasing: raw[0..<40]), into: raw, nonce: .init(counter: 1))
        }
        XCTAssertEqual(Array(buffer[0..<sealed]), aead.seal(Array(before[0..<40]), nonce: .init(counter: 1)))
    }
}
