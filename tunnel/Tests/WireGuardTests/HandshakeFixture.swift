// Fixed keys, ephemerals, preshared key and timestamp for the handshake tests and the interop test.
import WireGuardCrypto
import WireGuardProtocol

enum Fixture {
    static let initiatorStatic = PrivateKey(clamping: .filled(1))
    static let responderStatic = PrivateKey(clamping: .filled(2))
    static let initiatorEphemeral = PrivateKey(clamping: .filled(3))
    static let responderEphemeral = PrivateKey(clamping: .filled(4))
    static let presharedKey = SecretKey.filled(5)
    static let timestamp = TAI64N(unixSeconds: 1_700_000_000, nanoseconds: 123_456_789)
    static let initiatorIndex: UInt32 = 0x1122_3344
    static let responderIndex: UInt32 = 0x5566_7788

    /// The raw (unclamped) bytes the Python reference is given; it clamps as X25519 does.
    static let rawPrivateKeys: [UInt8] = [1, 2, 3, 4]

    static func initiate(
        timestamp: TAI64N = timestamp, ephemeral: PrivateKey = initiatorEphemeral, responder: PublicKey = responderStatic.publicKey
    ) throws -> (Initiator, HandshakeInitiation) {
        try Initiator.start(
            local: initiatorStatic, peer: responder, presharedKey: presharedKey, ephemeral: ephemeral, senderIndex: initiatorIndex,
            timestamp: timestamp)
    }

    /// The responder's peer table: only the fixture initiator, with the fixture preshared key.
    static func lookup(latest: TAI64N? = nil) -> (PublicKey) -> ResponderPeer? {
        { key in key == initiatorStatic.publicKey ? ResponderPeer(presharedKey: presharedKey, latestTimestamp: latest) : nil }
    }
}
