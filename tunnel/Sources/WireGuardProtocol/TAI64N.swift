// TAI64N: the 12-byte timestamp in a handshake initiation (big-endian TAI seconds, then
// nanoseconds), the responder's per-peer replay guard (whitepaper §5.1). Hand-written: no library.

/// A TAI64N label. Ordering is the byte order of the wire form, as the replay check needs.
public struct TAI64N: Sendable, Hashable, Comparable {
    public static let byteCount = 12
    /// TAI64 label of the Unix epoch plus the 10 s TAI-UTC offset at 1970, as WireGuard uses.
    static let unixEpochLabel: UInt64 = 0x4000_0000_0000_000a
    /// Nanoseconds are rounded down to 2^24 ns (~16.8 ms) so the timestamp leaks no fine timing.
    static let whitenerMask: UInt32 = 0x100_0000 - 1

    public let seconds: UInt64
    public let nanoseconds: UInt32

    public init(seconds: UInt64, nanoseconds: UInt32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// The timestamp an initiator sends for a Unix time (whitened as wireguard-go does).
    public init(unixSeconds: UInt64, nanoseconds: UInt32) {
        self.init(seconds: Self.unixEpochLabel &+ unixSeconds, nanoseconds: nanoseconds & ~Self.whitenerMask)
    }

    /// Exactly 12 bytes (the decrypted payload of an initiation).
    init(wire bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == Self.byteCount)
        seconds = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        nanoseconds = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        out.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: seconds.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: nanoseconds.bigEndian, toByteOffset: 8, as: UInt32.self)
        }
        return out
    }

    public static func < (lhs: TAI64N, rhs: TAI64N) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }
}
