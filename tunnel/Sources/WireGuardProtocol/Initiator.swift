// Initiator: the initiating side of the handshake as a value. `start` builds message 1 (mac1/mac2
// are added afterwards by CookieGenerator); `consume` checks message 2 and yields the transport keys.
// Time and randomness come in as parameters (the timestamp, the ephemeral key, the index).
import WireGuardCrypto

/// An initiation in flight: what the initiator must keep until the response arrives.
public struct Initiator: Sendable {
    public let localIndex: UInt32
    public let peer: PublicKey
    let presharedKey: SecretKey
    let ephemeral: PrivateKey
    let state: NoiseState

    /// Creates message 1 for `peer` (whitepaper §5.4.2). mac1 and mac2 are zero in the result.
    public static func start(
        local: PrivateKey, peer: PublicKey, presharedKey: SecretKey, ephemeral: PrivateKey, senderIndex: UInt32, timestamp: TAI64N
    ) throws(HandshakeError) -> (Initiator, HandshakeInitiation) {
        var state = NoiseState(responderStatic: peer)
        state.mixEphemeral(ephemeral.publicKey)
        let es = try ephemeral.sharedSecretForHandshake(with: peer)
        let staticKey = state.mixKey(es)
        let encryptedStatic = state.encryptAndHash(local.publicKey.bytes, key: staticKey)
        let ss = try local.sharedSecretForHandshake(with: peer)
        let timestampKey = state.mixKey(ss)
        let encryptedTimestamp = state.encryptAndHash(timestamp.bytes, key: timestampKey)
        let message = HandshakeInitiation(
            senderIndex: senderIndex, ephemeral: ephemeral.publicKey, encryptedStatic: encryptedStatic,
            encryptedTimestamp: encryptedTimestamp)
        let initiator = Initiator(localIndex: senderIndex, peer: peer, presharedKey: presharedKey, ephemeral: ephemeral, state: state)
        return (initiator, message)
    }

    /// Checks message 2 (whitepaper §5.4.3) and derives the transport keys. The caller checks mac1
    /// (CookieChecker) first.
    public func consume(response: HandshakeResponse, local: PrivateKey) throws(HandshakeError) -> TransportKeys {
        guard response.receiverIndex == localIndex else { throw .unexpectedReceiverIndex(response.receiverIndex) }
        var state = state
        state.mixEphemeral(response.ephemeral)
        state.mixKeyOnly(try ephemeral.sharedSecretForHandshake(with: response.ephemeral))
        state.mixKeyOnly(try local.sharedSecretForHandshake(with: response.ephemeral))
        let key = state.mixPresharedKey(presharedKey)
        do throws(CryptoError) {
            _ = try state.decryptAndHash(response.encryptedNothing.bytes, key: key)
        } catch {
            throw .responseDecryptionFailed
        }
        let (sending, receiving) = state.split()
        return TransportKeys(
            sendingKey: sending, receivingKey: receiving, localIndex: localIndex, remoteIndex: response.senderIndex, isInitiator: true,
            handshakeHash: state.hash)
    }
}
