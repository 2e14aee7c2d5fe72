// PublicKey and MAC16: fixed-size non-secret byte strings held inline (no heap), Hashable so they
// can key dictionaries (a responder's peer table is keyed by the decrypted static public key).

/// A 32-byte X25519 public key (or any other public 32-byte value: an ephemeral, a hash).
public struct PublicKey: Sendable, Hashable {
    public static let byteCount = 32
    private var words: (UInt64, UInt64, UInt64, UInt64)

    /// Exactly 32 bytes; anything else is `.wrongLength`.
    public init(bytes: some Collection<UInt8>) throws(CryptoError) {
        guard bytes.count == Self.byteCount else { throw .wrongLength(expected: Self.byteCount, actual: bytes.count) }
        words = (0, 0, 0, 0)
        Swift.withUnsafeMutableBytes(of: &words) { raw in
            for (offset, byte) in bytes.enumerated() { raw[offset] = byte }
        }
    }

    /// Exactly 32 bytes of raw memory; anything else is `.wrongLength`.
    public init(copying raw: UnsafeRawBufferPointer) throws(CryptoError) {
        guard raw.count == Self.byteCount else { throw .wrongLength(expected: Self.byteCount, actual: raw.count) }
        words = (0, 0, 0, 0)
        Swift.withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: raw) }
    }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var copy = words
        return Swift.withUnsafeBytes(of: &copy) { body($0) }
    }

    public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool {
        ((lhs.words.0 ^ rhs.words.0) | (lhs.words.1 ^ rhs.words.1) | (lhs.words.2 ^ rhs.words.2) | (lhs.words.3 ^ rhs.words.3)) == 0
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

/// A 16-byte BLAKE2s MAC (WireGuard's mac1, mac2 and cookie). `==` runs in constant time.
public struct MAC16: Sendable, Hashable {
    public static let byteCount = 16
    private var words: (UInt64, UInt64)

    public static let zero = MAC16(words: (0, 0))

    private init(words: (UInt64, UInt64)) { self.words = words }

    /// Exactly 16 bytes of raw memory; anything else is `.wrongLength`.
    public init(copying raw: UnsafeRawBufferPointer) throws(CryptoError) {
        guard raw.count == Self.byteCount else { throw .wrongLength(expected: Self.byteCount, actual: raw.count) }
        words = (0, 0)
        Swift.withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: raw) }
    }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var copy = words
        return Swift.withUnsafeBytes(of: &copy) { body($0) }
    }

    public static func == (lhs: MAC16, rhs: MAC16) -> Bool {
        ((lhs.words.0 ^ rhs.words.0) | (lhs.words.1 ^ rhs.words.1)) == 0
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
    }
}
