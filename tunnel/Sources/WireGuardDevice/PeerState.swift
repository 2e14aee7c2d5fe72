// PeerState: everything the device keeps per peer: static identity, endpoint, cookie state, the
// handshake in flight, sessions, the bounded packet queue and the timer deadlines (whitepaper §6).
// Deadlines are absolute times on the caller's monotonic clock (nil: not armed), so the whole state
// is plain data that can later be exported for handover.
import WireGuardCrypto
import WireGuardProtocol

struct PeerState: Sendable {
    let publicKey: PublicKey
    let presharedKey: SecretKey
    var endpoint: Endpoint?
    var persistentKeepalive: Duration?
    var cookieGenerator: CookieGenerator
    /// Greatest initiation timestamp accepted from this peer.
    var latestTimestamp: TAI64N?
    /// When we last accepted an initiation from this peer (the responder's flood limit).
    var lastInitiationConsumedAt: Duration?
    var keypairs = Keypairs()
    /// Our initiation awaiting a response.
    var handshake: Initiator?
    var handshakeAttempts = 0
    var lastInitiationSentAt: Duration?
    /// Packets waiting for a session, oldest first (bounded by WireGuardDevice.maxQueuedPackets).
    var queue: [[UInt8]] = []
    var statistics = PeerStatistics()

    // Timer deadlines.
    var retransmitHandshakeAt: Duration?
    var sendKeepaliveAt: Duration?
    var needAnotherKeepalive = false
    var newHandshakeAt: Duration?
    var zeroKeysAt: Duration?
    var persistentKeepaliveAt: Duration?
    var sentLastMinuteHandshake = false

    init(configuration: PeerConfiguration) {
        publicKey = configuration.publicKey
        presharedKey = configuration.presharedKey ?? .zero
        endpoint = configuration.endpoint
        persistentKeepalive = configuration.persistentKeepalive.flatMap { $0 > .zero ? $0 : nil }
        cookieGenerator = CookieGenerator(remotePublicKey: configuration.publicKey)
        // A configured persistent keepalive fires at the first tick (wireguard-go sends one at start).
        if persistentKeepalive != nil, endpoint != nil { persistentKeepaliveAt = .zero }
    }

    /// Every local index this peer owns (sessions and the handshake in flight).
    var localIndices: [UInt32] { keypairs.localIndices + (handshake.map { [$0.localIndex] } ?? []) }

    /// The earliest armed deadline.
    var nextDeadline: Duration? {
        [retransmitHandshakeAt, sendKeepaliveAt, newHandshakeAt, zeroKeysAt, persistentKeepaliveAt].compactMap { $0 }.min()
    }

    /// A usable sending session, if any.
    func sendingSessionUsable(now: Duration, timers: WireGuardTimers) -> Bool {
        keypairs.current?.isUsable(now: now, timers: timers) ?? false
    }

    // The timer events of wireguard-go's timers.go, named as there.

    mutating func anyAuthenticatedPacketTraversal(now: Duration) {
        if let interval = persistentKeepalive { persistentKeepaliveAt = now + interval }
    }

    mutating func anyAuthenticatedPacketSent() { sendKeepaliveAt = nil }

    mutating func anyAuthenticatedPacketReceived() { newHandshakeAt = nil }

    mutating func dataSent(now: Duration, timers: WireGuardTimers, jitter: Duration) {
        if newHandshakeAt == nil { newHandshakeAt = now + timers.keepaliveTimeout + timers.rekeyTimeout + jitter }
    }

    mutating func dataReceived(now: Duration, timers: WireGuardTimers) {
        if sendKeepaliveAt == nil {
            sendKeepaliveAt = now + timers.keepaliveTimeout
        } else {
            needAnotherKeepalive = true
        }
    }

    mutating func handshakeComplete(now: Duration) {
        retransmitHandshakeAt = nil
        handshakeAttempts = 0
        sentLastMinuteHandshake = false
        statistics.lastHandshakeAt = now
    }

    mutating func sessionDerived(now: Duration, timers: WireGuardTimers) {
        zeroKeysAt = now + timers.zeroKeysAfter
        statistics.sessionsDerived += 1
    }
}
