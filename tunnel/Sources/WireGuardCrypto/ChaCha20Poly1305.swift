// ChaCha20Poly1305 and XChaCha20Poly1305: the public AEAD types, keyed once and reused for every
// packet, sealing and opening in the caller's buffer (the BoringSSL calls are in BoringSSLAEAD.swift).

/// RFC 8439 ChaCha20-Poly1305 bound to one key. Copies share one context; safe to use concurrently.
public struct ChaCha20Poly1305: Sendable {
    public static let tagCount = 16
    public static let nonceCount = 12

    /// A 96-bit nonce. WireGuard's is 32 zero bits then a 64-bit little-endian counter.
    public struct Nonce: Sendable, Equatable {
        fileprivate var words: (UInt32, UInt32, UInt32)

        /// WireGuard's nonce for `counter`.
        public init(counter: UInt64) {
            words = (0, UInt32(truncatingIfNeeded: counter).littleEndian, UInt32(truncatingIfNeeded: counter >> 32).littleEndian)
        }

        /// Any 12 bytes (for test vectors).
        public init(bytes: [UInt8]) throws(CryptoError) {
            guard bytes.count == ChaCha20Poly1305.nonceCount else {
                throw .wrongLength(expected: ChaCha20Poly1305.nonceCount, actual: bytes.count)
            }
            words = (0, 0, 0)
            withUnsafeMutableBytes(of: &words) { $0.copyBytes(from: bytes) }
        }

        public static func == (lhs: Nonce, rhs: Nonce) -> Bool {
            lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2
        }
    }

    private let context: AEADContext

    public init(key: SecretKey) { context = AEADContext(key: key, extendedNonce: false) }

    /// Encrypts buffer[0..<plaintextCount] in place and writes the tag after it; returns the sealed
    /// count (plaintextCount + 16). The buffer must have room for the tag.
    public func seal(
        inPlace buffer: UnsafeMutableRawBufferPointer, plaintextCount: Int, nonce: Nonce,
        authenticating ad: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) throws(CryptoError) -> Int {
        var words = nonce.words
        return try withUnsafeBytes(of: &words) { raw throws(CryptoError) in
            try context.seal(buffer, plaintextCount: plaintextCount, nonce: raw, ad: ad)
        }
    }

    /// Encrypts `plaintext` into `output` (a buffer not overlapping it) and writes the tag after the
    /// ciphertext; returns the sealed count (plaintext.count + 16). Sealing straight from where a
    /// packet was read into where it is sent from saves copying it.
    /// - Throws: `.bufferTooSmall` without room for ciphertext and tag; `.overlappingBuffers` when the
    ///   two overlap but do not start at the same address.
    public func seal(
        _ plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, nonce: Nonce,
        authenticating ad: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) throws(CryptoError) -> Int {
        var words = nonce.words
        return try withUnsafeBytes(of: &words) { raw throws(CryptoError) in
            try context.seal(plaintext, into: output, nonce: raw, ad: ad)
        }
    }

    /// Authenticates and decrypts buffer[0..<ciphertextCount] (ciphertext then tag) in place; returns
    /// the plaintext count. On `.authenticationFailed` buffer[0..<ciphertextCount] is all zeros.
    public func open(
        inPlace buffer: UnsafeMutableRawBufferPointer, ciphertextCount: Int, nonce: Nonce,
        authenticating ad: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) throws(CryptoError) -> Int {
        var words = nonce.words
        return try withUnsafeBytes(of: &words) { raw throws(CryptoError) in
            try context.open(buffer, ciphertextCount: ciphertextCount, nonce: raw, ad: ad)
        }
    }

    /// Authenticates and decrypts `sealed` (ciphertext then tag) into `output` (a buffer not
    /// overlapping it); returns the plaintext count. On `.authenticationFailed` the plaintext part of
    /// `output` is all zeros.
    /// - Throws: `.authenticationFailed`; `.bufferTooSmall` when `output` cannot hold the plaintext;
    ///   `.overlappingBuffers` as for the out-of-place seal.
    public func open(
        _ sealed: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, nonce: Nonce,
        authenticating ad: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) throws(CryptoError) -> Int {
        var words = nonce.words
        return try withUnsafeBytes(of: &words) { raw throws(CryptoError) in
            try context.open(sealed, into: output, nonce: raw, ad: ad)
        }
    }

    /// Convenience for small fixed-size handshake fields: a new array holding ciphertext and tag.
    public func seal(_ plaintext: [UInt8], nonce: Nonce, authenticating ad: [UInt8] = []) -> [UInt8] {
        var buffer = plaintext + [UInt8](repeating: 0, count: Self.tagCount)
        let count = plaintext.count
        ad.withUnsafeBytes { adRaw in
            buffer.withUnsafeMutableBytes { raw in
                _ = try! seal(inPlace: raw, plaintextCount: count, nonce: nonce, authenticating: adRaw)  // room for the tag made above
            }
        }
        return buffer
    }

    /// Convenience: opens a copy; throws `.authenticationFailed` when it does not authenticate.
    public func open(_ sealed: [UInt8], nonce: Nonce, authenticating ad: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        var buffer = sealed
        let result = ad.withUnsafeBytes { adRaw in
            buffer.withUnsafeMutableBytes { raw in
                Result { () throws(CryptoError) in try open(inPlace: raw, ciphertextCount: raw.count, nonce: nonce, authenticating: adRaw) }
            }
        }
        return Array(buffer[0..<(try result.get())])
    }
}

/// XChaCha20-Poly1305 (HChaCha20 subkey, then ChaCha20-Poly1305; draft-irtf-cfrg-xchacha), bound to
/// one key: WireGuard's cookie replies.
public struct XChaCha20Poly1305: Sendable {
    public static let tagCount = 16
    public static let nonceCount = 24

    private let context: AEADContext

    public init(key: SecretKey) { context = AEADContext(key: key, extendedNonce: true) }

    /// As ChaCha20Poly1305.seal(inPlace:…) with a 24-byte nonce.
    public func seal(
        inPlace buffer: UnsafeMutableRawBufferPointer, plaintextCount: Int, nonce: UnsafeRawBufferPointer,
        authenticating ad: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) throws(CryptoError) -> Int {
        try context.seal(buffer, plaintextCount: plaintextCount, nonce: nonce, ad: ad)
    }

    /// As ChaCha20Poly1305.open(inPlace:…) with a 24-byte nonce; zeroes the buffer on failure.
    public func open(
        inPlace buffer: UnsafeMutableRawBufferPointer, ciphertextCount: Int, nonce: UnsafeRawBufferPointer,
        authenticating ad: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) throws(CryptoError) -> Int {
        try context.open(buffer, ciphertextCount: ciphertextCount, nonce: nonce, ad: ad)
    }
}
