// IPAddress, IPPrefix, Endpoint: the small address values the device core works with (IPv4 and
// IPv6 as two 64-bit halves, so comparisons and trie walks never allocate). Hand-written: the
// configuration module (WireGuardConfig) is not merged yet; the lead maps its types onto these.

/// An IPv4 or IPv6 address. IPv4 is kept in the top 32 bits of `high`.
public struct IPAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Family: UInt8, Sendable, Hashable, Codable { case v4 = 4, v6 = 6 }

    public let family: Family
    public let high: UInt64
    public let low: UInt64

    /// Address length in bits: 32 or 128.
    public var bitCount: Int { family == .v4 ? 32 : 128 }

    public init(v4 value: UInt32) {
        family = .v4
        high = UInt64(value) << 32
        low = 0
    }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self.init(v4: UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d))
    }

    public init(v6High high: UInt64, low: UInt64) {
        family = .v6
        self.high = high
        self.low = low
    }

    /// 4 or 16 bytes in network order; nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4:
            self.init(v4: bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        case 16:
            let high = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            self.init(v6High: high, low: bytes.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        default:
            return nil
        }
    }

    /// Reads 4 or 16 bytes (network order) at `offset`; the caller checks the bounds.
    init(reading raw: UnsafeRawBufferPointer, at offset: Int, family: Family) {
        switch family {
        case .v4:
            self.init(v4: UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        case .v6:
            self.init(
                v6High: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
                low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
        }
    }

    /// Dotted quad only (tests and diagnostics); nil when malformed.
    public init?(v4String text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard part.count <= 3, let octet = UInt8(part) else { return nil }
            value = value << 8 | UInt32(octet)
        }
        self.init(v4: value)
    }

    /// Bit `index` counted from the most significant (0 ..< bitCount).
    @inline(__always) func bit(_ index: Int) -> Int {
        index < 64 ? Int(truncatingIfNeeded: high >> UInt64(63 - index)) & 1 : Int(truncatingIfNeeded: low >> UInt64(127 - index)) & 1
    }

    /// Network-order bytes (4 or 16).
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16)
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: high >> UInt64(shift))) }
        if family == .v4 { return Array(out[0..<4]) }
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: low >> UInt64(shift))) }
        return out
    }

    public var description: String {
        switch family {
        case .v4: return bytes.map(String.init).joined(separator: ".")
        case .v6:
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        }
    }
}

/// An address with a prefix length; host bits are cleared on creation (as wg(8) does).
public struct IPPrefix: Sendable, Hashable, Codable, CustomStringConvertible {
    public let address: IPAddress
    public let length: Int

    /// nil when `length` exceeds the family's bit count or is negative.
    public init?(_ address: IPAddress, _ length: Int) {
        guard length >= 0, length <= address.bitCount else { return nil }
        func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : bits >= 64 ? .max : ~(UInt64.max >> UInt64(bits)) }
        let high = address.high & mask(length)
        let low = address.low & mask(length - 64)
        self.address = address.family == .v4 ? IPAddress(v4: UInt32(truncatingIfNeeded: high >> 32)) : IPAddress(v6High: high, low: low)
        self.length = length
    }

    /// "a.b.c.d/n" (IPv4 only; tests and diagnostics).
    public init?(v4String text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let address = IPAddress(v4String: String(parts[0])), let length = Int(parts[1]) else { return nil }
        self.init(address, length)
    }

    public var description: String { "\(address)/\(length)" }
}

/// A UDP endpoint: where a peer's datagrams come from and go to.
public struct Endpoint: Sendable, Hashable, Codable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// The bytes a cookie is bound to: address then port, big-endian (as wireguard-go).
    var cookieSource: [UInt8] { address.bytes + [UInt8(port >> 8), UInt8(port & 0xff)] }

    public var description: String { address.family == .v4 ? "\(address):\(port)" : "[\(address)]:\(port)" }
}
