// NoiseState: the Noise symmetric state (chaining key and hash) with the operations WireGuard's
// Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake applies to it (whitepaper §5.4.2–5.4.3).
// Hand-written: no Swift Noise library with BLAKE2s exists; checked against PyPI noiseprotocol.
import WireGuardCrypto

struct NoiseState: Sendable {
    static let construction = Array("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s".utf8)
    static let identifier = Array("WireGuard v1 zx2c4 Jason@zx2c4.com".utf8)
    /// C = HASH(Construction).
    static let initialChainingKey = construction.withUnsafeBytes { BLAKE2s.hash($0) }
    /// H = HASH(C || Identifier).
    static let initialHash = initialChainingKey.withUnsafeBytes { ck in identifier.withUnsafeBytes { BLAKE2s.hash(ck, $0) } }

    var chainingKey: SecretKey
    var hash: SecretKey

    /// The state both sides start from: H = HASH(initialHash || responder's static public key).
    init(responderStatic: PublicKey) {
        chainingKey = Self.initialChainingKey
        hash = Self.initialHash
        mixHash(responderStatic)
    }

    mutating func mixHash(_ bytes: UnsafeRawBufferPointer) {
        hash = hash.withUnsafeBytes { BLAKE2s.hash($0, bytes) }
    }

    mutating func mixHash(_ key: PublicKey) { key.withUnsafeBytes { mixHash($0) } }
    mutating func mixHash(_ bytes: [UInt8]) { bytes.withUnsafeBytes { mixHash($0) } }
    mutating func mixHash(_ key: SecretKey) { key.withUnsafeBytes { mixHash($0) } }

    /// C = KDF1(C, ephemeral public): Noise's "e" token in psk mode.
    mutating func mixEphemeral(_ key: PublicKey) {
        chainingKey = key.withUnsafeBytes { WireGuardKDF.kdf1(chainingKey, $0) }
        mixHash(key)
    }

    /// (C, k) = KDF2(C, DH result); returns k.
    mutating func mixKey(_ sharedSecret: SecretKey) -> SecretKey {
        let (next, key) = sharedSecret.withUnsafeBytes { WireGuardKDF.kdf2(chainingKey, $0) }
        chainingKey = next
        return key
    }

    /// C = KDF1(C, DH result), with no key (the response's ee and se).
    mutating func mixKeyOnly(_ sharedSecret: SecretKey) {
        chainingKey = sharedSecret.withUnsafeBytes { WireGuardKDF.kdf1(chainingKey, $0) }
    }

    /// (C, τ, k) = KDF3(C, Q); H = HASH(H || τ); returns k.
    mutating func mixPresharedKey(_ psk: SecretKey) -> SecretKey {
        let (next, tau, key) = psk.withUnsafeBytes { WireGuardKDF.kdf3(chainingKey, $0) }
        chainingKey = next
        mixHash(tau)
        return key
    }

    /// AEAD(k, 0, plaintext, H); H = HASH(H || ciphertext).
    mutating func encryptAndHash(_ plaintext: [UInt8], key: SecretKey) -> [UInt8] {
        let sealed = hash.withUnsafeBytes { ad in
            ChaCha20Poly1305(key: key).seal(plaintext, nonce: ChaCha20Poly1305.Nonce(counter: 0), authenticating: Array(ad))
        }
        mixHash(sealed)
        return sealed
    }

    /// Opens AEAD(k, 0, ·, H); H = HASH(H || ciphertext).
    mutating func decryptAndHash(_ sealed: [UInt8], key: SecretKey) throws(CryptoError) -> [UInt8] {
        let ad = hash.withUnsafeBytes { Array($0) }
        let plaintext = try ChaCha20Poly1305(key: key).open(sealed, nonce: ChaCha20Poly1305.Nonce(counter: 0), authenticating: ad)
        mixHash(sealed)
        return plaintext
    }

    /// (first, second) = KDF2(C, ε): the transport keys (initiator sends with first).
    func split() -> (SecretKey, SecretKey) {
        WireGuardKDF.kdf2(chainingKey, UnsafeRawBufferPointer(start: nil, count: 0))
    }
}
