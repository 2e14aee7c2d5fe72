// WireGuardDevice, outbound: an inner packet read from the TUN → a transport message for the peer
// its destination routes to, sealed in the caller's buffer; or, with no usable session, a copy in
// the peer's bounded queue (oldest dropped, counted) and a handshake initiation to send.
import WireGuardCrypto
import WireGuardProtocol

extension WireGuardDevice {
    /// `buffer[headroom ..< headroom + packetCount]` holds the inner packet; `buffer` must have room
    /// for `Keypair.messageCount(forPacket:)` bytes. On success the message is `buffer[0 ..< messageCount]`.
    public mutating func send(
        packet buffer: UnsafeMutableRawBufferPointer, packetCount: Int, now: Duration, using generator: inout some RandomNumberGenerator
    ) -> OutboundResult {
        var result = OutboundResult()
        guard packetCount >= 0, Self.headroom + packetCount <= buffer.count else { return dropOutbound(.bufferTooSmall) }
        let inner = UnsafeRawBufferPointer(rebasing: buffer[Self.headroom..<Self.headroom + packetCount])
        guard let peer = allowedIPs.peer(forDestinationOf: inner) else { return dropOutbound(.noRoute) }
        guard let endpoint = peers[peer].endpoint else { return dropOutbound(.noEndpoint) }
        if peers[peer].sendingSessionUsable(now: now, timers: timers) {
            let sealed: Int
            do throws(TransportError) {
                sealed = try peers[peer].keypairs.current!.encrypt(inPlace: buffer, packetCount: packetCount)  // usable checked above
            } catch {
                return dropOutbound(.bufferTooSmall)  // the only failure left: usable was checked above
            }
            result.messageCount = sealed
            result.endpoint = endpoint
            peers[peer].statistics.sentBytes += UInt64(sealed)
            peers[peer].anyAuthenticatedPacketSent()
            peers[peer].anyAuthenticatedPacketTraversal(now: now)
            peers[peer].dataSent(now: now, timers: timers, jitter: jitter(using: &generator))
            if let current = peers[peer].keypairs.current, current.isInitiator,
                current.sendCounter >= timers.rekeyAfterMessages || now - current.createdAt >= timers.rekeyAfterTime,
                let action = beginHandshake(peer, now: now, isRetry: false, using: &generator)
            {
                result.actions.append(action)
            }
            return result
        }
        if peers[peer].queue.count >= Self.maxQueuedPackets {
            peers[peer].queue.removeFirst()
            drops.count(.queueOverflow)
        }
        peers[peer].queue.append(Array(inner))
        result.queued = true
        if let action = beginHandshake(peer, now: now, isRetry: false, using: &generator) { result.actions.append(action) }
        return result
    }

    /// Convenience for tests and simple callers: the actions for one inner packet (the transport
    /// message, if sealed, comes first as a `.send`).
    public mutating func send(_ packet: [UInt8], now: Duration, using generator: inout some RandomNumberGenerator) -> (
        actions: [DeviceAction], result: OutboundResult
    ) {
        var buffer = [UInt8](repeating: 0, count: Keypair.messageCount(forPacket: packet.count))
        buffer.replaceSubrange(Self.headroom..<Self.headroom + packet.count, with: packet)
        let result = buffer.withUnsafeMutableBytes { send(packet: $0, packetCount: packet.count, now: now, using: &generator) }
        var actions: [DeviceAction] = []
        if let count = result.messageCount, let endpoint = result.endpoint { actions.append(.send(Array(buffer[0..<count]), to: endpoint)) }
        return (actions + result.actions, result)
    }

    private mutating func dropOutbound(_ reason: DropReason) -> OutboundResult {
        drops.count(reason)
        var result = OutboundResult()
        result.dropped = reason
        return result
    }
}
