// TransportKeys: what a completed handshake yields for the data path (whitepaper §5.4.5).
import WireGuardCrypto

/// The session's keys and indices. Keys are SecretKeys: wiped when the last copy is released.
public struct TransportKeys: Sendable {
    public let sendingKey: SecretKey
    public let receivingKey: SecretKey
    /// Our index: transport messages addressed to us carry it as their receiver.
    public let localIndex: UInt32
    /// The peer's index: we put it in the receiver field of what we send.
    public let remoteIndex: UInt32
    public let isInitiator: Bool
    /// The final handshake hash (both sides have the same one; useful for channel binding and tests).
    public let handshakeHash: SecretKey
}
