// WireGuardDevice: the provider's protocol core as a pure value. It owns the peer table (by public
// key and by our 32-bit receiver indices), the cryptokey routing table, the responder's cookie
// checker and the drop counters; every entry point takes the time (a monotonic Duration from the
// caller's clock) and a random number generator, and returns what to send. No sockets, no threads,
// no clock reads: the provider wires it to the TUN and UDP, tests wire devices to each other.
// Inbound handling is in WireGuardDevice+Inbound.swift, outbound in +Outbound, timers in +Timers.
import WireGuardCrypto
import WireGuardProtocol

public struct WireGuardDevice: Sendable {
    /// Packets queued per peer while it has no session; the oldest is dropped beyond this (the
    /// kernel's MAX_STAGED_PACKETS).
    public static let maxQueuedPackets = 128
    /// A peer's initiations are processed at most once per this interval (wireguard-go's
    /// HandshakeInitationRate): a peer (or whoever holds its key) cannot make us derive sessions in a loop.
    public static let initiationFloodInterval: Duration = .milliseconds(20)
    /// Bytes the caller leaves in front of an outbound inner packet for the transport header.
    public static let headroom = TransportHeader.byteCount

    public let timers: WireGuardTimers
    let privateKey: PrivateKey
    var cookieChecker: CookieChecker
    var peers: [PeerState]
    var peerByKey: [PublicKey: Int]
    var peerByIndex: [UInt32: Int] = [:]
    public private(set) var allowedIPs = AllowedIPs()
    public internal(set) var drops = DropCounters()
    /// While set, initiations and responses without a current mac2 are answered with a cookie reply
    /// instead (whitepaper §5.3). With `handshakeLoad` set, the device sets it itself from every
    /// handshake message with a valid mac1; tests may set it directly (then leave `handshakeLoad` nil).
    public var underLoad = false
    /// The load decision (HandshakeLoad.swift), fed with every handshake message whose mac1 is
    /// valid; nil: `underLoad` is only what the caller sets. The provider sets `.standard`. Not
    /// carried across a handover (it lasts a second).
    public var handshakeLoad: HandshakeLoad?
    /// Cookie replies sent (as responder, under load). Not carried across a handover.
    public internal(set) var cookieRepliesSent: UInt64 = 0
    /// The Unix time (since 1970) at which the monotonic clock read zero: handshake timestamps are
    /// this plus `now`. The provider sets it at start (and after a wall-clock step).
    public var unixTimeAtZero: Duration

    public init(configuration: DeviceConfiguration, timers: WireGuardTimers = .standard, unixTimeAtZero: Duration = .zero) {
        self.timers = timers
        privateKey = configuration.privateKey
        cookieChecker = CookieChecker(localPublicKey: configuration.privateKey.publicKey)
        self.unixTimeAtZero = unixTimeAtZero
        peers = []
        peerByKey = [:]
        for peer in configuration.peers { addPeer(peer) }
    }

    /// Our static public key.
    public var publicKey: PublicKey { privateKey.publicKey }

    /// The configured peers' public keys, in configuration order.
    public var peerKeys: [PublicKey] { peers.map(\.publicKey) }

    /// Adds a peer or replaces the one with the same key (its sessions are kept, allowed IPs replaced).
    public mutating func addPeer(_ configuration: PeerConfiguration) {
        let slot: Int
        if let existing = peerByKey[configuration.publicKey] {
            slot = existing
            peers[slot].endpoint = configuration.endpoint ?? peers[slot].endpoint
            peers[slot].persistentKeepalive = configuration.persistentKeepalive.flatMap { $0 > .zero ? $0 : nil }
            allowedIPs.removeAll(peer: slot)
        } else {
            slot = peers.count
            peers.append(PeerState(configuration: configuration))
            peerByKey[configuration.publicKey] = slot
        }
        for prefix in configuration.allowedIPs { allowedIPs.insert(prefix, peer: slot) }
    }

    /// The endpoint datagrams to `peer` go to (updated by roaming).
    public func endpoint(of peer: PublicKey) -> Endpoint? { peerByKey[peer].flatMap { peers[$0].endpoint } }

    /// A peer's sessions (for inspection and tests).
    public func keypairs(of peer: PublicKey) -> Keypairs? { peerByKey[peer].map { peers[$0].keypairs } }

    public func statistics(of peer: PublicKey) -> PeerStatistics? { peerByKey[peer].map { peers[$0].statistics } }

    /// Packets waiting for a session to `peer`.
    public func queuedCount(of peer: PublicKey) -> Int { peerByKey[peer].map { peers[$0].queue.count } ?? 0 }

    /// Whether an initiation from us to `peer` is awaiting its response.
    public func isHandshaking(with peer: PublicKey) -> Bool { peerByKey[peer].map { peers[$0].handshake != nil } ?? false }

    /// Receiver indices in use (no two sessions or handshakes share one).
    public var indicesInUse: Int { peerByIndex.count }

    // MARK: - Internal helpers

    /// A fresh random index not in use (a collision just draws again).
    mutating func allocateIndex(for peer: Int, using generator: inout some RandomNumberGenerator) -> UInt32 {
        while true {
            let index = UInt32.random(in: .min ... .max, using: &generator)
            if peerByIndex[index] == nil {
                peerByIndex[index] = peer
                return index
            }
        }
    }

    /// Runs `body` on a peer and releases the receiver indices it no longer holds afterwards.
    mutating func updateIndices(of peer: Int, _ body: (inout PeerState) -> Void) {
        let before = peers[peer].localIndices
        body(&peers[peer])
        let after = peers[peer].localIndices
        for index in before where !after.contains(index) { peerByIndex.removeValue(forKey: index) }
    }

    /// A random jitter in 0 ... REKEY_TIMEOUT jitter.
    func jitter(using generator: inout some RandomNumberGenerator) -> Duration {
        let maximum = timers.rekeyTimeoutJitter.components
        let nanoseconds = maximum.seconds * 1_000_000_000 + maximum.attoseconds / 1_000_000_000
        guard nanoseconds > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanoseconds, using: &generator))
    }

    /// The initiation timestamp for `now`.
    func timestamp(now: Duration) -> TAI64N {
        let wall = (unixTimeAtZero + now).components
        let seconds = UInt64(max(wall.seconds, 0))
        return TAI64N(unixSeconds: seconds, nanoseconds: UInt32(max(wall.attoseconds, 0) / 1_000_000_000))
    }

    /// Starts (or retries) a handshake with `peer`; nil when rate-limited or without an endpoint.
    mutating func beginHandshake(
        _ peer: Int, now: Duration, isRetry: Bool, using generator: inout some RandomNumberGenerator
    ) -> DeviceAction? {
        guard let endpoint = peers[peer].endpoint else { return nil }
        if !isRetry, peers[peer].handshake != nil || peers[peer].lastInitiationSentAt.map({ now - $0 < timers.rekeyTimeout }) == true {
            return nil  // one in flight (its retransmit timer is armed) or sent less than REKEY_TIMEOUT ago
        }
        updateIndices(of: peer) { $0.handshake = nil }
        let index = allocateIndex(for: peer, using: &generator)
        let ephemeral = PrivateKey.generate(using: &generator)
        let started: (Initiator, HandshakeInitiation)
        do throws(HandshakeError) {
            started = try Initiator.start(
                local: privateKey, peer: peers[peer].publicKey, presharedKey: peers[peer].presharedKey, ephemeral: ephemeral,
                senderIndex: index, timestamp: timestamp(now: now))
        } catch {
            peerByIndex.removeValue(forKey: index)  // the peer's static key is a low-order point: nothing to send
            return nil
        }
        var message = started.1
        peers[peer].cookieGenerator.addMACs(to: &message, now: now)
        let delay = timers.rekeyTimeout + jitter(using: &generator)
        peers[peer].handshake = started.0
        peers[peer].lastInitiationSentAt = now
        peers[peer].retransmitHandshakeAt = now + delay
        if !isRetry { peers[peer].handshakeAttempts = 0 }
        peers[peer].statistics.handshakesInitiated += 1
        peers[peer].sendKeepaliveAt = nil  // handshakeInitiated
        peers[peer].anyAuthenticatedPacketTraversal(now: now)
        return .send(message.bytes, to: endpoint)
    }

    /// Seals a copy of `packet` (possibly empty: a keepalive) on the current session; nil if none.
    mutating func sealCopy(_ packet: [UInt8], peer: Int, now: Duration) -> DeviceAction? {
        guard peers[peer].sendingSessionUsable(now: now, timers: timers), let endpoint = peers[peer].endpoint else { return nil }
        var buffer = [UInt8](repeating: 0, count: Keypair.messageCount(forPacket: packet.count))
        buffer.replaceSubrange(Self.headroom..<Self.headroom + packet.count, with: packet)
        // current! is safe: sendingSessionUsable checked it above.
        let sealed = buffer.withUnsafeMutableBytes { raw in
            Result { () throws(TransportError) in try peers[peer].keypairs.current!.encrypt(inPlace: raw, packetCount: packet.count) }
        }
        guard case .success = sealed else { return nil }
        peers[peer].statistics.sentBytes += UInt64(buffer.count)
        if packet.isEmpty { peers[peer].statistics.keepalivesSent += 1 }
        peers[peer].anyAuthenticatedPacketSent()
        peers[peer].anyAuthenticatedPacketTraversal(now: now)
        return .send(buffer, to: endpoint)
    }

    /// Sends what is queued for `peer` on its new session, or a keepalive when nothing is (so the
    /// responder learns the session is confirmed).
    mutating func flushQueue(_ peer: Int, now: Duration, keepaliveIfEmpty: Bool, using generator: inout some RandomNumberGenerator)
        -> [DeviceAction]
    {
        var actions: [DeviceAction] = []
        if peers[peer].queue.isEmpty {
            if keepaliveIfEmpty, let action = sealCopy([], peer: peer, now: now) { actions.append(action) }
            return actions
        }
        let queued = peers[peer].queue
        peers[peer].queue = []
        for packet in queued {
            guard let action = sealCopy(packet, peer: peer, now: now) else { break }
            actions.append(action)
        }
        if !actions.isEmpty { peers[peer].dataSent(now: now, timers: timers, jitter: jitter(using: &generator)) }
        return actions
    }
}
