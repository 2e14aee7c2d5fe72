// BLAKE2s (RFC 7693) through Debian's libb2, the BLAKE2 authors' library. WireGuard's HASH is
// BLAKE2s-256 and its MAC is keyed BLAKE2s-128. BLAKE2s is in none of swift-crypto, BoringSSL or
// libsodium; libb2 is a small packaged library (OpenSSL 3 also has it, but would be a second
// general-purpose crypto library beside BoringSSL). Every libb2 call is in this file.
internal import CBlake2

/// Incremental BLAKE2s with 1...32 output bytes, unkeyed or keyed with 1...32 key bytes.
public struct BLAKE2sHasher {
    public static let maxOutputCount = 32
    public static let maxKeyCount = 32

    private var state = blake2s_state()
    public let outputCount: Int

    /// `outputCount` 1...32; `key` 0...32 bytes (empty: unkeyed).
    public init(outputCount: Int = 32, key: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) throws(CryptoError) {
        guard (1...Self.maxOutputCount).contains(outputCount) else {
            throw .wrongLength(expected: Self.maxOutputCount, actual: outputCount)
        }
        guard key.count <= Self.maxKeyCount else { throw .wrongLength(expected: Self.maxKeyCount, actual: key.count) }
        self.outputCount = outputCount
        let status =
            key.isEmpty
            ? blake2s_init(&state, outputCount)
            : blake2s_init_key(&state, outputCount, key.baseAddress, key.count)
        guard status == 0 else { throw .libraryFailure }
    }

    /// An unkeyed 32-byte hasher (WireGuard's HASH); cannot fail.
    public static func hash() -> BLAKE2sHasher {
        var hasher = BLAKE2sHasher(unchecked: ())
        _ = blake2s_init(&hasher.state, 32)  // cannot fail: 32 is a valid output length
        return hasher
    }

    private init(unchecked: Void) { outputCount = 32 }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        _ = blake2s_update(&state, base.assumingMemoryBound(to: UInt8.self), bytes.count)  // cannot fail with a valid state
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }
    public mutating func update(_ key: SecretKey) { key.withUnsafeBytes { update($0) } }
    public mutating func update(_ key: PublicKey) { key.withUnsafeBytes { update($0) } }

    /// Writes `outputCount` bytes to `output` (which must hold at least that many) and wipes the state.
    public mutating func finalize(into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count >= outputCount, "BLAKE2s output buffer smaller than outputCount")
        _ = blake2s_final(&state, output.baseAddress!.assumingMemoryBound(to: UInt8.self), outputCount)  // count checked above
        Swift.withUnsafeMutableBytes(of: &state) { BoringSSL.wipe($0) }
    }

    /// For a 32-byte hasher: the digest as a SecretKey (WireGuard's chaining keys and hashes).
    public mutating func finalizeKey() -> SecretKey {
        precondition(outputCount == SecretKey.byteCount, "finalizeKey needs a 32-byte BLAKE2s")
        return SecretKey { finalize(into: $0) }
    }

    /// For a 16-byte hasher: the digest as a MAC16 (mac1, mac2, cookie).
    public mutating func finalizeMAC() -> MAC16 {
        precondition(outputCount == MAC16.byteCount, "finalizeMAC needs a 16-byte BLAKE2s")
        var out: (UInt64, UInt64) = (0, 0)
        Swift.withUnsafeMutableBytes(of: &out) { finalize(into: $0) }
        return Swift.withUnsafeBytes(of: &out) { try! MAC16(copying: $0) }  // 16 bytes by construction
    }
}

/// WireGuard's HASH and MAC.
public enum BLAKE2s {
    /// HASH(a || b): BLAKE2s-256.
    public static func hash(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0))
        -> SecretKey
    {
        var hasher = BLAKE2sHasher.hash()
        hasher.update(a)
        hasher.update(b)
        return hasher.finalizeKey()
    }

    /// MAC(key, data): keyed BLAKE2s-128; `key` is 1...32 bytes (a 32-byte key or a 16-byte cookie).
    public static func mac(key: UnsafeRawBufferPointer, _ data: UnsafeRawBufferPointer) throws(CryptoError) -> MAC16 {
        guard !key.isEmpty else { throw .wrongLength(expected: BLAKE2sHasher.maxKeyCount, actual: 0) }
        var hasher = try BLAKE2sHasher(outputCount: MAC16.byteCount, key: key)
        hasher.update(data)
        return hasher.finalizeMAC()
    }
}
