// Every BoringSSL call of WireGuardCrypto, in this one file: ChaCha20-Poly1305 and XChaCha20-Poly1305
// sealed and opened in place or out of place (from one buffer into another: the data path's packets
// are sealed from the TUN batch into the datagram batch and opened back, with no copy) with a context
// set up once per key, plus wiping and constant-time compare.
//
// Why BoringSSL through swift-crypto's CCryptoBoringSSL module rather than swift-crypto's ChaChaPoly:
// measured on this machine (release build, 1,420-byte packets, one core) swift-crypto's ChaChaPoly
// seals at 0.3–0.45 GB/s with 13 heap allocations a call and has no in-place API; BoringSSL's
// EVP_AEAD_CTX with a reused context seals in place at ~1.2 GB/s with none (libsodium 0.7, OpenSSL 3
// 0.8; figures and the bench in docs/ARCHITECTURE.md ("The WireGuard provider")). It adds no runtime library: swift-crypto
// already compiles BoringSSL into every binary that uses Crypto. The catch: CCryptoBoringSSL is not a
// stable API, so Package.swift pins swift-crypto `exact:` and nothing outside this file touches it.
internal import CCryptoBoringSSL

/// The BoringSSL helpers the rest of the module uses (wiping, constant-time comparison).
enum BoringSSL {
    /// Zeroes memory in a way the optimiser may not remove (OPENSSL_cleanse).
    static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        CCryptoBoringSSL_OPENSSL_cleanse(base, buffer.count)
    }

    /// Equal lengths and equal bytes, in time that depends only on the length.
    static func constantTimeEquals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard let aBase = a.baseAddress, let bBase = b.baseAddress, !a.isEmpty else { return true }
        return CCryptoBoringSSL_CRYPTO_memcmp(aBase, bBase, a.count) == 0
    }
}

/// An EVP_AEAD_CTX keyed once; BoringSSL allows concurrent seal/open on an initialised context.
final class AEADContext: @unchecked Sendable {  // unchecked: the context is read-only after init (BoringSSL's contract)
    static let tagCount = 16
    private let context: UnsafeMutablePointer<EVP_AEAD_CTX>
    let nonceCount: Int

    init(key: SecretKey, extendedNonce: Bool) {
        let aead = extendedNonce ? CCryptoBoringSSL_EVP_aead_xchacha20_poly1305() : CCryptoBoringSSL_EVP_aead_chacha20_poly1305()
        nonceCount = CCryptoBoringSSL_EVP_AEAD_nonce_length(aead)
        context = UnsafeMutablePointer<EVP_AEAD_CTX>.allocate(capacity: 1)
        CCryptoBoringSSL_EVP_AEAD_CTX_zero(context)
        let status = key.withUnsafeBytes { raw in
            CCryptoBoringSSL_EVP_AEAD_CTX_init(
                context, aead, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count, Self.tagCount, nil)  // 32-byte storage
        }
        // Only a wrong key length fails, and a SecretKey is always 32 bytes.
        precondition(status == 1, "EVP_AEAD_CTX_init refused a 32-byte ChaCha20-Poly1305 key")
    }

    deinit {
        CCryptoBoringSSL_EVP_AEAD_CTX_cleanup(context)
        BoringSSL.wipe(UnsafeMutableRawBufferPointer(start: context, count: MemoryLayout<EVP_AEAD_CTX>.size))
        context.deallocate()
    }

    /// Encrypts buffer[0..<plaintextCount] in place and appends the tag; returns plaintextCount + 16.
    func seal(
        _ buffer: UnsafeMutableRawBufferPointer, plaintextCount: Int, nonce: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer
    ) throws(CryptoError) -> Int {
        guard nonce.count == nonceCount else { throw .wrongLength(expected: nonceCount, actual: nonce.count) }
        guard plaintextCount >= 0, plaintextCount <= buffer.count - Self.tagCount, let base = buffer.baseAddress else {
            throw .bufferTooSmall(needed: max(plaintextCount, 0) &+ Self.tagCount, available: buffer.count)
        }
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        var written = 0
        let status = CCryptoBoringSSL_EVP_AEAD_CTX_seal(
            context, bytes, &written, plaintextCount + Self.tagCount, nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), nonce.count,
            bytes, plaintextCount, ad.baseAddress?.assumingMemoryBound(to: UInt8.self), ad.count)
        guard status == 1, written == plaintextCount + Self.tagCount else {
            CCryptoBoringSSL_ERR_clear_error()
            throw .libraryFailure
        }
        return written
    }

    /// Encrypts `input` into `output` and writes the tag after the ciphertext; returns input.count + 16.
    /// `output` is a different buffer (saves copying a packet into the buffer it is sealed in): it
    /// must not overlap `input` unless both start at the same address (then this is in place).
    func seal(
        _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, nonce: UnsafeRawBufferPointer,
        ad: UnsafeRawBufferPointer
    ) throws(CryptoError) -> Int {
        guard nonce.count == nonceCount else { throw .wrongLength(expected: nonceCount, actual: nonce.count) }
        guard input.count <= output.count - Self.tagCount, let outBase = output.baseAddress else {
            throw .bufferTooSmall(needed: input.count &+ Self.tagCount, available: output.count)
        }
        guard Self.sameOrDisjoint(input, UnsafeRawBufferPointer(output)) else { throw .overlappingBuffers }
        let bytes = outBase.assumingMemoryBound(to: UInt8.self)
        var written = 0
        let status = CCryptoBoringSSL_EVP_AEAD_CTX_seal(
            context, bytes, &written, input.count + Self.tagCount, nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), nonce.count,
            input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count, ad.baseAddress?.assumingMemoryBound(to: UInt8.self),
            ad.count)
        guard status == 1, written == input.count + Self.tagCount else {
            CCryptoBoringSSL_ERR_clear_error()
            throw .libraryFailure
        }
        return written
    }

    /// Authenticates and decrypts `input` (ciphertext then tag) into `output` (same rules as the
    /// out-of-place seal); returns the plaintext count. On any failure the plaintext part of `output`
    /// is zeroed: BoringSSL may write before it checks the tag.
    func open(
        _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, nonce: UnsafeRawBufferPointer,
        ad: UnsafeRawBufferPointer
    ) throws(CryptoError) -> Int {
        guard nonce.count == nonceCount else { throw .wrongLength(expected: nonceCount, actual: nonce.count) }
        guard input.count >= Self.tagCount else { throw .authenticationFailed }
        let plaintextCount = input.count - Self.tagCount
        guard plaintextCount <= output.count, let outBase = output.baseAddress else {
            throw .bufferTooSmall(needed: plaintextCount, available: output.count)
        }
        guard Self.sameOrDisjoint(input, UnsafeRawBufferPointer(output)) else { throw .overlappingBuffers }
        var written = 0
        let status = CCryptoBoringSSL_EVP_AEAD_CTX_open(
            context, outBase.assumingMemoryBound(to: UInt8.self), &written, plaintextCount,
            nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), nonce.count, input.baseAddress?.assumingMemoryBound(to: UInt8.self),
            input.count, ad.baseAddress?.assumingMemoryBound(to: UInt8.self), ad.count)
        guard status == 1, written == plaintextCount else {
            BoringSSL.wipe(UnsafeMutableRawBufferPointer(rebasing: output[0..<plaintextCount]))
            CCryptoBoringSSL_ERR_clear_error()
            throw .authenticationFailed
        }
        return written
    }

    /// Whether two buffers start at the same address or share no byte: what BoringSSL allows for an
    /// AEAD's input and output.
    static func sameOrDisjoint(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard let aBase = a.baseAddress, let bBase = b.baseAddress, !a.isEmpty, !b.isEmpty else { return true }
        return aBase == bBase || aBase + a.count <= bBase || bBase + b.count <= aBase
    }

    /// Decrypts buffer[0..<ciphertextCount] (ciphertext then tag) in place; returns the plaintext count.
    /// On any failure buffer[0..<ciphertextCount] is zeroed: BoringSSL decrypts before it checks the
    /// tag, and unauthenticated plaintext must not be left where a caller could use it.
    func open(
        _ buffer: UnsafeMutableRawBufferPointer, ciphertextCount: Int, nonce: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer
    ) throws(CryptoError) -> Int {
        guard nonce.count == nonceCount else { throw .wrongLength(expected: nonceCount, actual: nonce.count) }
        guard ciphertextCount >= Self.tagCount, ciphertextCount <= buffer.count, let base = buffer.baseAddress else {
            throw .authenticationFailed
        }
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        var written = 0
        let status = CCryptoBoringSSL_EVP_AEAD_CTX_open(
            context, bytes, &written, ciphertextCount - Self.tagCount, nonce.baseAddress?.assumingMemoryBound(to: UInt8.self),
            nonce.count, bytes, ciphertextCount, ad.baseAddress?.assumingMemoryBound(to: UInt8.self), ad.count)
        guard status == 1, written == ciphertextCount - Self.tagCount else {
            BoringSSL.wipe(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<ciphertextCount]))
            CCryptoBoringSSL_ERR_clear_error()
            throw .authenticationFailed
        }
        return written
    }
}
