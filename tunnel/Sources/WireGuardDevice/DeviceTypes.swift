// The device core's configuration, results and counters: plain values so the provider (and tests)
// drive a WireGuardDevice without sockets. The configuration is this module's own small type; the
// lead maps WireGuardConfig's parsed profile onto it.
import WireGuardCrypto

/// One configured peer.
public struct PeerConfiguration: Sendable {
    public var publicKey: PublicKey
    public var presharedKey: SecretKey?
    public var endpoint: Endpoint?
    public var allowedIPs: [IPPrefix]
    /// Send a keepalive after this much silence in either direction (nil: off).
    public var persistentKeepalive: Duration?

    public init(
        publicKey: PublicKey, presharedKey: SecretKey? = nil, endpoint: Endpoint? = nil, allowedIPs: [IPPrefix] = [],
        persistentKeepalive: Duration? = nil
    ) {
        self.publicKey = publicKey
        self.presharedKey = presharedKey
        self.endpoint = endpoint
        self.allowedIPs = allowedIPs
        self.persistentKeepalive = persistentKeepalive
    }
}

/// The interface: our static key, the UDP port (informational here: the provider binds it), the peers.
public struct DeviceConfiguration: Sendable {
    public var privateKey: PrivateKey
    public var listenPort: UInt16?
    public var peers: [PeerConfiguration]

    public init(privateKey: PrivateKey, listenPort: UInt16? = nil, peers: [PeerConfiguration] = []) {
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.peers = peers
    }
}

/// Something the caller must do.
public enum DeviceAction: Sendable, Equatable {
    /// Send this UDP payload to `to`.
    case send([UInt8], to: Endpoint)
    /// All of a peer's sessions and handshake state were wiped (3×REJECT_AFTER_TIME without a new one).
    case keysZeroed(PublicKey)
    /// A handshake was retried for REKEY_ATTEMPT_TIME without an answer; queued packets were dropped.
    case handshakeGaveUp(PublicKey, droppedPackets: Int)
}

/// Why a datagram or packet was dropped; counted per reason.
public enum DropReason: Int, Sendable, CaseIterable, Codable {
    /// Too short, unknown type, reserved bytes set, wrong length for its type.
    case malformed
    /// A handshake message whose mac1 is wrong (not for us, or altered).
    case invalidMAC1
    /// An initiation or response that did not authenticate (wrong key, altered, low-order point).
    case handshakeFailed
    /// An initiation from an unconfigured static key.
    case unknownPeer
    /// An initiation whose timestamp is not newer than the last one from that peer.
    case replayedInitiation
    /// A response, cookie reply or transport message to an index we do not have.
    case unknownReceiverIndex
    /// A cookie reply that did not open.
    case invalidCookieReply
    /// A transport counter already seen, too old, or past REJECT_AFTER_MESSAGES.
    case replayedCounter
    /// A transport message whose tag did not verify.
    case authenticationFailed
    /// A transport message on a session older than REJECT_AFTER_TIME.
    case expiredSession
    /// A decrypted inner packet that is not IPv4/IPv6 or whose header length is wrong.
    case malformedInnerPacket
    /// A decrypted inner packet whose source address is not in the sender's allowed IPs.
    case disallowedSource
    /// An outbound packet whose destination no peer's allowed IPs cover (or not IP).
    case noRoute
    /// An outbound packet for a peer with no known endpoint.
    case noEndpoint
    /// The oldest queued packet, pushed out of a full per-peer queue.
    case queueOverflow
    /// Queued packets dropped when a handshake gave up or keys were zeroed.
    case handshakeGaveUp
    /// The outbound buffer had no room for header, padding and tag.
    case bufferTooSmall
    /// A valid initiation less than `WireGuardDevice.initiationFloodInterval` after the last one from that peer.
    case initiationFlood
    /// A handshake message over the provider's per-batch budget (`maximumHandshakesPerBatch`): a
    /// flood cannot crowd transport data out of a receive batch.
    case handshakeShed
}

/// Drop counts by reason. Fixed storage: counting never allocates.
public struct DropCounters: Sendable, Equatable, Codable {
    private var counts = [UInt64](repeating: 0, count: DropReason.allCases.count)

    public init() {}

    public subscript(reason: DropReason) -> UInt64 { counts[reason.rawValue] }

    public var total: UInt64 { counts.reduce(0, &+) }

    mutating func count(_ reason: DropReason, _ amount: Int = 1) { counts[reason.rawValue] &+= UInt64(amount) }
}

/// What `receive` made of one datagram.
public struct InboundResult: Sendable {
    /// The decrypted inner packet, inside the caller's buffer (write it to the TUN).
    public var packet: Range<Int>?
    /// The peer it came from (authenticated), when any.
    public var peer: PublicKey?
    /// Replies and other datagrams to send (handshake response, cookie reply, flushed queue).
    public var actions: [DeviceAction] = []
    /// Set when the datagram was dropped.
    public var dropped: DropReason?
}

/// What `send` did with one inner packet.
public struct OutboundResult: Sendable {
    /// The transport message now at `buffer[0 ..< messageCount]`, for `endpoint`.
    public var messageCount: Int?
    public var endpoint: Endpoint?
    /// Handshake initiations and the like to send as well.
    public var actions: [DeviceAction] = []
    /// The packet was copied into the peer's queue to go once a session exists.
    public var queued = false
    public var dropped: DropReason?
}

/// Cumulative per-peer traffic figures.
public struct PeerStatistics: Sendable, Equatable, Codable {
    public var receivedBytes: UInt64 = 0
    public var sentBytes: UInt64 = 0
    public var lastHandshakeAt: Duration?
    public var keepalivesSent: UInt64 = 0
    public var keepalivesReceived: UInt64 = 0
    public var handshakesInitiated: UInt64 = 0
    /// Sessions (keypairs) derived with this peer, as initiator or responder: each rekey adds one.
    public var sessionsDerived: UInt64 = 0
    /// Cookie replies from this peer that opened (it was under load); the next initiation carries mac2.
    public var cookieRepliesReceived: UInt64 = 0
}
