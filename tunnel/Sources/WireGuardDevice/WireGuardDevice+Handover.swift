// WireGuardDevice, handover: the running state exported for the provider's next version and
// imported there (issue 14 item 4: a live upgrade without a new handshake). Carried per peer: the
// three sessions (keys, send counter, replay window, indices, age, role), the endpoint, the
// greatest initiation timestamp, the cookie state, statistics and every timer; for the device:
// the responder's cookie secret and the drop counters. The receiver-index map is rebuilt from the
// sessions (so it cannot disagree with them). Not carried: an initiation in flight (its retransmit
// deadline is, so a fresh one goes then) and packets queued for a session that does not exist yet.
//
// Rebase rule: an absolute time t of the exporter's clock travels as t − now(exporter); the
// importer stores now(importer) + that offset. Import validates everything against this device
// (built from the new profile) and changes nothing unless all of it is accepted.
import WireGuardCrypto
import WireGuardProtocol

extension WireGuardDevice {
    /// The state as a version-1 blob, times relative to `now`. It holds session keys: keep it in
    /// memory only, never log or store it.
    public func exportHandover(now: Duration) -> [UInt8] {
        func offset(_ time: Duration) -> Int64 { Self.nanoseconds(time - now) }
        let secret = cookieChecker.handoverSecret
        let state = DeviceHandoverState(
            interfaceKey: publicKey, cookieSecret: secret.secret, cookieSecretSetAt: offset(secret.setAt),
            drops: DropReason.allCases.map { drops[$0] },
            peers: peers.map { peer in
                let cookie = peer.cookieGenerator.handoverCookie
                return DeviceHandoverState.PeerRecord(
                    publicKey: peer.publicKey, endpoint: peer.endpoint, latestTimestamp: peer.latestTimestamp,
                    lastInitiationConsumedAt: peer.lastInitiationConsumedAt.map(offset), cookie: cookie.cookie,
                    cookieSetAt: offset(cookie.setAt), handshakeAttempts: UInt32(clamping: peer.handshakeAttempts),
                    lastInitiationSentAt: peer.lastInitiationSentAt.map(offset), statistics: peer.statistics,
                    lastHandshakeAt: peer.statistics.lastHandshakeAt.map(offset),
                    retransmitHandshakeAt: peer.retransmitHandshakeAt.map(offset),
                    sendKeepaliveAt: peer.sendKeepaliveAt.map(offset), needAnotherKeepalive: peer.needAnotherKeepalive,
                    newHandshakeAt: peer.newHandshakeAt.map(offset), zeroKeysAt: peer.zeroKeysAt.map(offset),
                    persistentKeepaliveAt: peer.persistentKeepaliveAt.map(offset), sentLastMinuteHandshake: peer.sentLastMinuteHandshake,
                    keypairs: [peer.keypairs.current, peer.keypairs.previous, peer.keypairs.next].map { $0.map { record($0, offset) } })
            })
        return state.encoded()
    }

    /// Takes over the state `bytes` exported by the previous version, times rebased onto `now`.
    /// The interface key and the set of peers must be this device's; on any error nothing changes.
    public mutating func importHandover(_ bytes: [UInt8], now: Duration) throws(DeviceHandoverError) {
        let state = try DeviceHandoverState.decode(bytes)
        guard state.interfaceKey == publicKey else { throw .interfaceKeyMismatch }
        let keys = Set(state.peers.map(\.publicKey))
        guard state.peers.count == peers.count, keys.count == peers.count, keys == Set(peers.map(\.publicKey)) else {
            throw .peerSetMismatch
        }
        func time(_ offset: Int64) -> Duration { now + .nanoseconds(offset) }
        var device = self
        var indices: [UInt32: Int] = [:]
        let limit = timers.rejectAfterMessages
        for record in state.peers {
            guard let slot = device.peerByKey[record.publicKey] else { throw .peerSetMismatch }
            var sessions: [Keypair?] = []
            for entry in record.keypairs {
                guard let entry else {
                    sessions.append(nil)
                    continue
                }
                guard entry.sendCounter <= limit, entry.replayGreatest < limit else { throw .counterBeyondLimit }
                guard indices.updateValue(slot, forKey: entry.localIndex) == nil else { throw .duplicateIndex }
                sessions.append(keypair(entry, createdAt: time(entry.createdAt), limit: limit))
            }
            var peer = device.peers[slot]
            peer.keypairs = Keypairs()
            peer.keypairs.current = sessions[0]
            peer.keypairs.previous = sessions[1]
            peer.keypairs.next = sessions[2]
            peer.handshake = nil
            peer.queue = []
            if let endpoint = record.endpoint { peer.endpoint = endpoint }
            peer.latestTimestamp = record.latestTimestamp
            peer.lastInitiationConsumedAt = record.lastInitiationConsumedAt.map(time)
            peer.cookieGenerator.restore(record.cookie, setAt: time(record.cookieSetAt))
            peer.handshakeAttempts = Int(record.handshakeAttempts)
            peer.lastInitiationSentAt = record.lastInitiationSentAt.map(time)
            peer.statistics = record.statistics
            peer.statistics.lastHandshakeAt = record.lastHandshakeAt.map(time)
            peer.retransmitHandshakeAt = record.retransmitHandshakeAt.map(time)
            peer.sendKeepaliveAt = record.sendKeepaliveAt.map(time)
            peer.needAnotherKeepalive = record.needAnotherKeepalive
            peer.newHandshakeAt = record.newHandshakeAt.map(time)
            peer.zeroKeysAt = record.zeroKeysAt.map(time)
            peer.persistentKeepaliveAt = record.persistentKeepaliveAt.map(time)
            peer.sentLastMinuteHandshake = record.sentLastMinuteHandshake
            device.peers[slot] = peer
        }
        device.peerByIndex = indices
        device.cookieChecker.restoreSecret(state.cookieSecret, setAt: time(state.cookieSecretSetAt))
        device.drops = DropCounters()
        for (reason, count) in zip(DropReason.allCases, state.drops) { device.drops.count(reason, Int(clamping: count)) }
        self = device
    }

    private func record(_ keypair: Keypair, _ offset: (Duration) -> Int64) -> DeviceHandoverState.KeypairRecord {
        DeviceHandoverState.KeypairRecord(
            sendingKey: keypair.sendingKey, receivingKey: keypair.receivingKey, sendCounter: keypair.sendCounter,
            replayGreatest: keypair.replay.greatest, replayBlocks: keypair.replay.blocks, localIndex: keypair.localIndex,
            remoteIndex: keypair.remoteIndex, isInitiator: keypair.isInitiator, createdAt: offset(keypair.createdAt))
    }

    private func keypair(_ record: DeviceHandoverState.KeypairRecord, createdAt: Duration, limit: UInt64) -> Keypair {
        let keys = TransportKeys(
            carriedOver: record.sendingKey, receivingKey: record.receivingKey, localIndex: record.localIndex,
            remoteIndex: record.remoteIndex, isInitiator: record.isInitiator)
        var keypair = Keypair(keys: keys, createdAt: createdAt, rejectAfterMessages: limit)
        keypair.sendCounter = record.sendCounter
        keypair.replay.greatest = record.replayGreatest
        keypair.replay.blocks = record.replayBlocks
        return keypair
    }

    /// `duration` in whole nanoseconds, clamped to ± DeviceHandoverState.maximumOffsetNanoseconds.
    static func nanoseconds(_ duration: Duration) -> Int64 {
        let bound = DeviceHandoverState.maximumOffsetNanoseconds
        let (seconds, attoseconds) = duration.components
        guard seconds.magnitude <= UInt64(bound / 1_000_000_000) else { return seconds < 0 ? -bound : bound }
        return max(-bound, min(bound, seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }
}

extension WireGuardDevice {
    /// Moves every session's send counter `count` ahead (at most to REJECT_AFTER_MESSAGES). For the
    /// previous version resuming after a failed handover: the next version may have sent on the
    /// same keys from the exported counters, and a (key, counter) pair must never seal twice. The
    /// peer's replay window simply slides; a session pushed to the limit is renewed by a handshake.
    public mutating func skipSendCounters(by count: UInt64) {
        let limit = timers.rejectAfterMessages
        func skip(_ keypair: inout Keypair?) {
            guard let counter = keypair?.sendCounter else { return }
            let (sum, overflow) = counter.addingReportingOverflow(count)
            keypair?.sendCounter = overflow ? limit : min(sum, limit)
        }
        for slot in peers.indices {
            skip(&peers[slot].keypairs.current)
            skip(&peers[slot].keypairs.previous)
            skip(&peers[slot].keypairs.next)
        }
    }

    /// Sessions held over all peers (for the provider's log line: a count, no key).
    public var sessionCount: Int { peers.reduce(0) { $0 + $1.keypairs.localIndices.count } }
}
