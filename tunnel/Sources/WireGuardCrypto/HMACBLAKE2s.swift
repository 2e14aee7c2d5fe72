// HMAC-BLAKE2s (RFC 2104 over BLAKE2s-256, block 64 bytes) and WireGuard's KDF1/KDF2/KDF3, which are
// HKDF (RFC 5869) with that HMAC and an empty info. Hand-written: no library here offers HMAC over
// BLAKE2s (libb2 only has keyed BLAKE2s, which is a different MAC).

/// HMAC over BLAKE2s-256.
public enum HMACBLAKE2s {
    static let blockCount = 64

    /// HMAC(key, a || b) with a key of any length (keys over 64 bytes are hashed first, per RFC 2104).
    public static func authenticate(
        key: UnsafeRawBufferPointer, _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) -> SecretKey {
        withUnsafeTemporaryAllocation(byteCount: blockCount * 2, alignment: 8) { pads in
            defer { BoringSSL.wipe(pads) }
            pads.initializeMemory(as: UInt8.self, repeating: 0)
            let inner = UnsafeMutableRawBufferPointer(rebasing: pads[0..<blockCount])
            let outer = UnsafeMutableRawBufferPointer(rebasing: pads[blockCount...])
            if key.count > blockCount {
                BLAKE2s.hash(key).withUnsafeBytes { inner.copyMemory(from: $0) }
            } else if !key.isEmpty {
                inner.copyMemory(from: key)
            }
            for index in 0..<blockCount {
                outer[index] = inner[index] ^ 0x5c
                inner[index] ^= 0x36
            }
            var hasher = BLAKE2sHasher.hash()
            hasher.update(UnsafeRawBufferPointer(inner))
            hasher.update(a)
            hasher.update(b)
            let innerDigest = hasher.finalizeKey()
            var outerHasher = BLAKE2sHasher.hash()
            outerHasher.update(UnsafeRawBufferPointer(outer))
            outerHasher.update(innerDigest)
            return outerHasher.finalizeKey()
        }
    }
}

/// WireGuard's KDFn(key, input): HKDF-BLAKE2s returning the first n 32-byte outputs.
public enum WireGuardKDF {
    private static func extract(_ key: UnsafeRawBufferPointer, _ input: UnsafeRawBufferPointer) -> SecretKey {
        HMACBLAKE2s.authenticate(key: key, input)
    }

    private static func expand(_ prk: SecretKey, previous: SecretKey?, counter: UInt8) -> SecretKey {
        prk.withUnsafeBytes { prkBytes in
            Swift.withUnsafeBytes(of: counter) { counterByte in
                guard let previous else { return HMACBLAKE2s.authenticate(key: prkBytes, counterByte) }
                return previous.withUnsafeBytes { HMACBLAKE2s.authenticate(key: prkBytes, $0, counterByte) }
            }
        }
    }

    public static func kdf1(key: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer) -> SecretKey {
        expand(extract(key, input), previous: nil, counter: 1)
    }

    public static func kdf2(key: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer) -> (SecretKey, SecretKey) {
        let prk = extract(key, input)
        let first = expand(prk, previous: nil, counter: 1)
        return (first, expand(prk, previous: first, counter: 2))
    }

    public static func kdf3(key: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer) -> (SecretKey, SecretKey, SecretKey) {
        let prk = extract(key, input)
        let first = expand(prk, previous: nil, counter: 1)
        let second = expand(prk, previous: first, counter: 2)
        return (first, second, expand(prk, previous: second, counter: 3))
    }

    // Conveniences for the handshake: the chaining key is always a SecretKey.
    public static func kdf1(_ key: SecretKey, _ input: UnsafeRawBufferPointer) -> SecretKey {
        key.withUnsafeBytes { kdf1(key: $0, input: input) }
    }

    public static func kdf2(_ key: SecretKey, _ input: UnsafeRawBufferPointer) -> (SecretKey, SecretKey) {
        key.withUnsafeBytes { kdf2(key: $0, input: input) }
    }

    public static func kdf3(_ key: SecretKey, _ input: UnsafeRawBufferPointer) -> (SecretKey, SecretKey, SecretKey) {
        key.withUnsafeBytes { kdf3(key: $0, input: input) }
    }
}
