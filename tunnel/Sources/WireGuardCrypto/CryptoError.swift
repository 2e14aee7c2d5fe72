// CryptoError: every way a WireGuardCrypto operation can fail, typed so callers switch on it.

/// Why a primitive refused. None of these carries secret material or attacker-chosen text.
public enum CryptoError: Error, Equatable, Sendable {
    /// Key, nonce or other fixed-size input had the wrong number of bytes.
    case wrongLength(expected: Int, actual: Int)
    /// The buffer cannot hold the result (for sealing: plaintext plus the 16-byte tag).
    case bufferTooSmall(needed: Int, available: Int)
    /// The ciphertext is shorter than a tag, or a tag, the ciphertext or the authenticated data was altered.
    case authenticationFailed
    /// X25519 produced the all-zero shared secret (the peer sent a low-order point).
    case zeroSharedSecret
    /// The library refused the key or the call (should not happen with valid lengths).
    case libraryFailure
    /// An out-of-place seal or open was given an input and an output that overlap without being
    /// the same buffer (BoringSSL requires them equal or disjoint).
    case overlappingBuffers
}
