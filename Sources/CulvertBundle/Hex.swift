// Hex: lowercase hexadecimal, the one text encoding of binary values in bundle and key files.
// Only one spelling per value is accepted (lowercase, exact length), so files stay canonical.

import Crypto

enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes exactly `byteCount` bytes of lowercase hex, or nil.
    static func decode(_ text: String, byteCount: Int) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count == byteCount * 2 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(byteCount)
        var index = 0
        while index < utf8.count {
            guard let high = value(of: utf8[index]), let low = value(of: utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    /// True for a lowercase hex SHA-256 digest.
    static func isDigest(_ text: String) -> Bool { decode(text, byteCount: SHA256.byteCount) != nil }

    static func sha256(_ bytes: some Sequence<UInt8>) -> String { encode(SHA256.hash(data: Array(bytes))) }

    private static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
