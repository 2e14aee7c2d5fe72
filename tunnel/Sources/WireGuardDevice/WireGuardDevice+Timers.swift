// WireGuardDevice, timers (whitepaper §6): `tick(now:)` fires every deadline that has passed and
// returns what to send; `nextDeadline` tells the caller when to call it again. The events follow
// wireguard-go's timers.go: handshake retransmission with jitter and giving up after
// REKEY_ATTEMPT_TIME, the keepalive after received data, a new handshake when sent data got no
// answer, persistent keepalive, and wiping all keys after 3×REJECT_AFTER_TIME without a session.

extension WireGuardDevice {
    /// The earliest armed deadline over all peers (nil: nothing to do until a packet arrives).
    public var nextDeadline: Duration? { peers.compactMap(\.nextDeadline).min() }

    /// Fires every deadline at or before `now`.
    public mutating func tick(now: Duration, using generator: inout some RandomNumberGenerator) -> [DeviceAction] {
        var actions: [DeviceAction] = []
        for peer in peers.indices {
            if let deadline = peers[peer].retransmitHandshakeAt, deadline <= now {
                peers[peer].retransmitHandshakeAt = nil
                retransmitHandshake(peer, now: now, into: &actions, using: &generator)
            }
            if let deadline = peers[peer].sendKeepaliveAt, deadline <= now {
                peers[peer].sendKeepaliveAt = nil
                sendKeepalive(peer, now: now, into: &actions, using: &generator)
                if peers[peer].needAnotherKeepalive {
                    peers[peer].needAnotherKeepalive = false
                    peers[peer].sendKeepaliveAt = now + timers.keepaliveTimeout
                }
            }
            if let deadline = peers[peer].newHandshakeAt, deadline <= now {
                peers[peer].newHandshakeAt = nil
                if let action = beginHandshake(peer, now: now, isRetry: false, using: &generator) { actions.append(action) }
            }
            if let deadline = peers[peer].zeroKeysAt, deadline <= now {
                peers[peer].zeroKeysAt = nil
                zeroKeys(peer)
                actions.append(.keysZeroed(peers[peer].publicKey))
            }
            if let deadline = peers[peer].persistentKeepaliveAt, deadline <= now {
                peers[peer].persistentKeepaliveAt = nil
                sendKeepalive(peer, now: now, into: &actions, using: &generator)
            }
        }
        return actions
    }

    private mutating func retransmitHandshake(
        _ peer: Int, now: Duration, into actions: inout [DeviceAction], using generator: inout some RandomNumberGenerator
    ) {
        if peers[peer].handshakeAttempts >= timers.maxHandshakeAttempts {
            // Gave up (REKEY_ATTEMPT_TIME): drop the handshake and queued packets; keys go later.
            let dropped = peers[peer].queue.count
            let zeroAt = now + timers.zeroKeysAfter
            updateIndices(of: peer) { state in
                state.handshake = nil
                state.queue = []
                state.sendKeepaliveAt = nil
                state.handshakeAttempts = 0
                state.lastInitiationSentAt = nil
                if state.zeroKeysAt == nil { state.zeroKeysAt = zeroAt }
            }
            drops.count(.handshakeGaveUp, dropped)
            actions.append(.handshakeGaveUp(peers[peer].publicKey, droppedPackets: dropped))
            return
        }
        peers[peer].handshakeAttempts += 1
        if let action = beginHandshake(peer, now: now, isRetry: true, using: &generator) { actions.append(action) }
    }

    /// An empty transport message on the current session; with none, a handshake instead.
    private mutating func sendKeepalive(
        _ peer: Int, now: Duration, into actions: inout [DeviceAction], using generator: inout some RandomNumberGenerator
    ) {
        if let action = sealCopy([], peer: peer, now: now) {
            actions.append(action)
        } else if let action = beginHandshake(peer, now: now, isRetry: false, using: &generator) {
            actions.append(action)
        }
    }

    /// Wipes every session and the handshake in flight of `peer` (their SecretKeys zero themselves
    /// when released) and frees their indices; queued packets are dropped and counted.
    mutating func zeroKeys(_ peer: Int) {
        let dropped = peers[peer].queue.count
        updateIndices(of: peer) { state in
            state.keypairs.clear()
            state.handshake = nil
            state.queue = []
            state.retransmitHandshakeAt = nil
            state.sendKeepaliveAt = nil
            state.newHandshakeAt = nil
            state.handshakeAttempts = 0
        }
        drops.count(.handshakeGaveUp, dropped)
    }
}
