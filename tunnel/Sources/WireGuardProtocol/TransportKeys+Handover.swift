// TransportKeys, handover: a session's keys rebuilt from a handover state (the next provider
// version carries on the sessions the previous one derived, without a handshake).
import WireGuardCrypto

extension TransportKeys {
    /// Keys and indices of a session derived elsewhere (by this provider's previous version). The
    /// handshake hash is not carried (nothing after the handshake uses it): zero.
    public init(carriedOver sendingKey: SecretKey, receivingKey: SecretKey, localIndex: UInt32, remoteIndex: UInt32, isInitiator: Bool) {
        self.sendingKey = sendingKey
        self.receivingKey = receivingKey
        self.localIndex = localIndex
        self.remoteIndex = remoteIndex
        self.isInitiator = isInitiator
        handshakeHash = .zero
    }
}
