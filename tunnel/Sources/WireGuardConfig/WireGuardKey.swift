// WireGuardKey: a 32-byte Curve25519 key or preshared key as a profile holds it (base64, as
// `wg genkey` prints it). Its description, debugDescription and reflection never show the bytes:
// a configuration can be logged or interpolated without leaking key material.
// Hand-written base64: WireGuardConfig links no Foundation or crypto library, and the only
// form it needs is exactly 32 bytes.

public struct WireGuardKey: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public static let byteCount = 32
    /// Base64 of 32 bytes: 43 characters and one `=`.
    public static let base64Length = 44

    /// The key bytes. Hand them only to the crypto layer.
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// Strict base64 of exactly 32 bytes, as `wg` accepts it: 44 characters ending in `=`, the
    /// unused low bits of the last character zero. Nil for anything else.
    public init?(base64 text: some StringProtocol) {
        let input = Array(text.utf8)
        guard input.count == Self.base64Length, input[43] == UInt8(ascii: "=") else { return nil }
        var values: [UInt8] = []
        values.reserveCapacity(43)
        for byte in input[..<43] {
            guard let value = Self.sextet(byte) else { return nil }
            values.append(value)
        }
        guard values[42] & 0b11 == 0 else { return nil }
        var result: [UInt8] = []
        result.reserveCapacity(Self.byteCount)
        var index = 0
        while result.count < Self.byteCount {
            let a = values[index]
            let b = values[index + 1]
            let c = index + 2 < 43 ? values[index + 2] : 0
            let d = index + 3 < 43 ? values[index + 3] : 0
            result.append(a << 2 | b >> 4)
            if result.count < Self.byteCount { result.append(b << 4 | c >> 2) }
            if result.count < Self.byteCount { result.append(c << 6 | d) }
            index += 4
        }
        bytes = result
    }

    /// The key as base64 (what profiles store). Handle as secret for private and preshared keys.
    public var base64: String {
        var output: [UInt8] = []
        output.reserveCapacity(Self.base64Length)
        var index = 0
        while index < bytes.count {
            let a = bytes[index]
            let b = index + 1 < bytes.count ? bytes[index + 1] : 0
            let c = index + 2 < bytes.count ? bytes[index + 2] : 0
            output.append(Self.alphabet[Int(a >> 2)])
            output.append(Self.alphabet[Int((a & 0b11) << 4 | b >> 4)])
            output.append(index + 1 < bytes.count ? Self.alphabet[Int((b & 0b1111) << 2 | c >> 6)] : UInt8(ascii: "="))
            output.append(index + 2 < bytes.count ? Self.alphabet[Int(c & 0b111111)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    public var description: String { "(key redacted)" }
    public var debugDescription: String { "WireGuardKey(redacted)" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    private static func sextet(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }
}
