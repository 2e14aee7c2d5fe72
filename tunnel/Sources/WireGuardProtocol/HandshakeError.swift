// HandshakeError: every reason a handshake or cookie message is refused, typed.
import WireGuardCrypto

public enum HandshakeError: Error, Equatable, Sendable {
    /// mac1 does not match our static public key (the sender does not know who we are).
    case invalidMAC1
    /// The encrypted static does not open: it was not sealed to our static key, or was altered.
    case staticDecryptionFailed
    /// The decrypted static public key is not one of our peers.
    case unknownPeer
    /// The timestamp does not open (wrong static-static secret or preshared key, or altered).
    case timestampDecryptionFailed
    /// The timestamp is not after the last one accepted from this peer.
    case replayedTimestamp
    /// The response's empty payload does not open (wrong preshared key, ephemeral or altered).
    case responseDecryptionFailed
    /// The response is not addressed to our pending initiation.
    case unexpectedReceiverIndex(UInt32)
    /// A Diffie-Hellman result was all zeros (a low-order public key).
    case zeroSharedSecret
    /// A cookie reply arrived with no handshake message of ours to answer, or for another index.
    case unexpectedCookieReply
    /// The cookie reply does not open (not for our last mac1, or altered).
    case cookieDecryptionFailed
}

extension PrivateKey {
    func sharedSecretForHandshake(with peer: PublicKey) throws(HandshakeError) -> SecretKey {
        do throws(CryptoError) { return try sharedSecret(with: peer) } catch { throw .zeroSharedSecret }
    }
}
