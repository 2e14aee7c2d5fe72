// InternetChecksum against a byte-at-a-time RFC 1071 reference: random lengths (odd and even),
// ranges added in pieces at even offsets, sums that carry out of 64 bits, and known vectors.

import XCTest

@testable import CulvertSystem

final class InternetChecksumTests: XCTestCase {
    /// RFC 1071 the slow way: big-endian 16-bit words, an odd last byte padded with zero.
    static func reference(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index < bytes.count {
            let high = UInt32(bytes[index]) << 8
            let low = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            sum += high | low
            sum = (sum & 0xFFFF) + (sum >> 16)
            index += 2
        }
        return ~UInt16(sum)
    }

    func checksum(_ bytes: [UInt8], pieces: [Int] = []) -> UInt16 {
        var accumulator = InternetChecksum()
        bytes.withUnsafeBytes { raw in
            var start = 0
            for end in pieces + [bytes.count] where end >= start {
                accumulator.add(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                start = end
            }
        }
        return accumulator.checksum
    }

    func testRFC1071Example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (checksum 220d).
        XCTAssertEqual(checksum([0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]), 0x220D)
    }

    func testMatchesTheReferenceForRandomBuffersAndEvenPieces() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<2_000 {
            let count = Int.random(in: 0...1_600, using: &generator)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let pieces = (0..<Int.random(in: 0...4, using: &generator)).map { _ in
                Int.random(in: 0...max(0, count / 2), using: &generator) * 2
            }
            .sorted()
            XCTAssertEqual(checksum(bytes, pieces: pieces), Self.reference(bytes), "round \(round), \(count) bytes, pieces \(pieces)")
        }
    }

    func testAllOnesOf64KiBCarriesCorrectly() {
        let ones = [UInt8](repeating: 0xFF, count: 65_535)
        XCTAssertEqual(checksum(ones), Self.reference(ones))
        let mixed = (0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 251) }
        XCTAssertEqual(checksum(mixed, pieces: [20, 40, 1_460]), Self.reference(mixed))
    }
}
