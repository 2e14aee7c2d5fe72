// Responder: the responding side of the handshake as values. `Responder.consume` opens message 1,
// finds the peer by its decrypted static key and refuses a replayed timestamp; `respond` builds
// message 2 and the transport keys. The caller checks mac1 (and under load mac2) first, and records
// the accepted timestamp for the peer (the returned `timestamp`) once it commits to the handshake.
import WireGuardCrypto

/// What the responder knows about one configured peer when an initiation arrives.
public struct ResponderPeer: Sendable {
    public var presharedKey: SecretKey
    /// The greatest timestamp accepted from this peer so far (nil: none yet).
    public var latestTimestamp: TAI64N?

    public init(presharedKey: SecretKey = .zero, latestTimestamp: TAI64N? = nil) {
        self.presharedKey = presharedKey
        self.latestTimestamp = latestTimestamp
    }
}

/// A consumed, authenticated initiation: enough to send the response.
public struct Responder: Sendable {
    /// The initiator's static public key (which peer this is).
    public let peer: PublicKey
    /// The initiator's timestamp; record it as the peer's latestTimestamp.
    public let timestamp: TAI64N
    /// The initiator's index (the receiver of our response).
    public let remoteIndex: UInt32
    let remoteEphemeral: PublicKey
    let presharedKey: SecretKey
    let state: NoiseState

    /// Opens message 1 addressed to `local`; `lookup` maps a decrypted static key to the peer, or
    /// nil for a stranger.
    public static func consume(
        _ message: HandshakeInitiation, local: PrivateKey, lookup: (PublicKey) -> ResponderPeer?
    ) throws(HandshakeError) -> Responder {
        var state = NoiseState(responderStatic: local.publicKey)
        state.mixEphemeral(message.ephemeral)
        let staticKey = state.mixKey(try local.sharedSecretForHandshake(with: message.ephemeral))
        let staticBytes: [UInt8]
        do throws(CryptoError) {
            staticBytes = try state.decryptAndHash(message.encryptedStatic, key: staticKey)
        } catch {
            throw .staticDecryptionFailed
        }
        let peerKey = try! PublicKey(bytes: staticBytes)  // 48-byte sealed field opens to exactly 32 bytes
        guard let peer = lookup(peerKey) else { throw .unknownPeer }
        let timestampKey = state.mixKey(try local.sharedSecretForHandshake(with: peerKey))
        let timestampBytes: [UInt8]
        do throws(CryptoError) {
            timestampBytes = try state.decryptAndHash(message.encryptedTimestamp, key: timestampKey)
        } catch {
            throw .timestampDecryptionFailed
        }
        let timestamp = timestampBytes.withUnsafeBytes { TAI64N(wire: $0) }
        if let latest = peer.latestTimestamp, timestamp <= latest { throw .replayedTimestamp }
        return Responder(
            peer: peerKey, timestamp: timestamp, remoteIndex: message.senderIndex, remoteEphemeral: message.ephemeral,
            presharedKey: peer.presharedKey, state: state)
    }

    /// Creates message 2 (mac1/mac2 zero; add them with CookieGenerator) and the transport keys.
    public func respond(ephemeral: PrivateKey, senderIndex: UInt32) throws(HandshakeError) -> (HandshakeResponse, TransportKeys) {
        var state = state
        state.mixEphemeral(ephemeral.publicKey)
        state.mixKeyOnly(try ephemeral.sharedSecretForHandshake(with: remoteEphemeral))
        state.mixKeyOnly(try ephemeral.sharedSecretForHandshake(with: peer))
        let key = state.mixPresharedKey(presharedKey)
        let sealed = state.encryptAndHash([], key: key)
        let tag = sealed.withUnsafeBytes { try! MAC16(copying: $0) }  // an empty payload seals to exactly its 16-byte tag
        let message = HandshakeResponse(
            senderIndex: senderIndex, receiverIndex: remoteIndex, ephemeral: ephemeral.publicKey, encryptedNothing: tag)
        let (receiving, sending) = state.split()
        let keys = TransportKeys(
            sendingKey: sending, receivingKey: receiving, localIndex: senderIndex, remoteIndex: remoteIndex, isInitiator: false,
            handshakeHash: state.hash)
        return (message, keys)
    }
}
