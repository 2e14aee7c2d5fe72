// PrivateKey: an X25519 private key clamped as WireGuard keys are (wg genkey clamps; so do we on
// import, which changes nothing X25519 computes), with Diffie-Hellman through swift-crypto's public
// Curve25519.KeyAgreement API (45–50 µs a call here) and the all-zero shared secret refused.
internal import Crypto

/// A clamped X25519 private key and its public key.
public struct PrivateKey: Sendable {
    /// The clamped scalar.
    public let secret: SecretKey
    public let publicKey: PublicKey

    /// Clamps `secret` (clears bits 0–2 and 255, sets bit 254) and derives the public key.
    public init(clamping secret: SecretKey) {
        let clamped = SecretKey { out in
            secret.withUnsafeBytes { out.copyMemory(from: $0) }
            out[0] &= 248
            out[31] = (out[31] & 127) | 64
        }
        self.secret = clamped
        let key = clamped.agreementKey()
        publicKey = key.publicKey.rawRepresentation.withUnsafeBytes { try! PublicKey(copying: $0) }  // always 32 bytes
    }

    /// A fresh key from `generator` (pass a cryptographically secure one outside tests).
    public static func generate(using generator: inout some RandomNumberGenerator) -> PrivateKey {
        PrivateKey(clamping: .random(using: &generator))
    }

    /// X25519(self, peer). Throws `.zeroSharedSecret` when the result is all zeros (a low-order
    /// point), which is also what swift-crypto's only failure with a 32-byte key means.
    public func sharedSecret(with peer: PublicKey) throws(CryptoError) -> SecretKey {
        do {
            let peerKey = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: peer.bytes)
            let shared = try secret.agreementKey().sharedSecretFromKeyAgreement(with: peerKey)
            let result = shared.withUnsafeBytes { raw in SecretKey { $0.copyMemory(from: raw) } }
            guard !result.isZero else { throw CryptoError.zeroSharedSecret }
            return result
        } catch {
            throw .zeroSharedSecret
        }
    }
}

extension SecretKey {
    /// swift-crypto's key object (not Sendable in this swift-crypto, so made per call rather than stored).
    fileprivate func agreementKey() -> Curve25519.KeyAgreement.PrivateKey {
        // Cannot throw: swift-crypto only checks that the raw representation is 32 bytes.
        withUnsafeBytes { try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: $0) }
    }
}
