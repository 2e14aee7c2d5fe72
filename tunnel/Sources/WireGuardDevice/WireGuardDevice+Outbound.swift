// WireGuardDevice, outbound: an inner packet read from the TUN → a transport message for the peer
// its destination routes to, sealed in the caller's buffer; or, with no usable session, a copy in
// the peer's bounded queue (oldest dropped, counted) and a handshake initiation to send.
// `beginSend` is the part under the provider's lock (route, counter, bookkeeping); sealing with
// its SealTicket happens outside it. `send(packet:…)` does both in one call.
import WireGuardCrypto
import WireGuardProtocol

extension WireGuardDevice {
    /// `buffer[headroom ..< headroom + packetCount]` holds the inner packet; `buffer` must have room
    /// for `Keypair.messageCount(forPacket:)` bytes. On success the message is `buffer[0 ..< messageCount]`.
    public mutating func send(
        packet buffer: UnsafeMutableRawBufferPointer, packetCount: Int, now: Duration, using generator: inout some RandomNumberGenerator
    ) -> OutboundResult {
        guard packetCount >= 0, Self.headroom + packetCount <= buffer.count else { return dropOutbound(.bufferTooSmall) }
        guard Keypair.messageCount(forPacket: packetCount) <= buffer.count else { return dropOutbound(.bufferTooSmall) }
        let inner = UnsafeRawBufferPointer(rebasing: buffer[Self.headroom..<Self.headroom + packetCount])
        let reservation = beginSend(packet: inner, now: now, using: &generator)
        var result = OutboundResult()
        result.actions = reservation.actions
        result.queued = reservation.queued
        result.dropped = reservation.dropped
        guard let ticket = reservation.ticket else { return result }
        do throws(TransportError) {
            result.messageCount = try ticket.seal(inPlace: buffer, packetCount: packetCount)
            result.endpoint = reservation.endpoint
        } catch {
            return dropOutbound(.bufferTooSmall)  // room checked above
        }
        return result
    }

    /// The part of sending an inner packet that needs the device (call it under the device's lock):
    /// routes it, and on a usable session reserves its counter and does the bookkeeping of a sent
    /// message (statistics, timers, rekey after messages or time) — the caller then seals with the
    /// returned ticket outside the lock, in a buffer of `Keypair.messageCount(forPacket:)` bytes
    /// with the packet at `headroom`. Without a session the packet is queued (copied) and a
    /// handshake started, as `send(packet:…)` does.
    public mutating func beginSend(packet inner: UnsafeRawBufferPointer, now: Duration, using generator: inout some RandomNumberGenerator)
        -> OutboundReservation
    {
        var reservation = OutboundReservation()
        guard let peer = allowedIPs.peer(forDestinationOf: inner) else { return dropReservation(.noRoute) }
        guard let endpoint = peers[peer].endpoint else { return dropReservation(.noEndpoint) }
        if peers[peer].sendingSessionUsable(now: now, timers: timers) {
            do throws(TransportError) {
                reservation.ticket = try peers[peer].keypairs.current!.reserveSend()  // usable checked above
            } catch {
                return dropReservation(.bufferTooSmall)  // not reached: usable means the counter is below the limit
            }
            reservation.endpoint = endpoint
            peers[peer].statistics.sentBytes += UInt64(Keypair.messageCount(forPacket: inner.count))
            peers[peer].anyAuthenticatedPacketSent()
            peers[peer].anyAuthenticatedPacketTraversal(now: now)
            // dataSent arms only an unarmed timer: draw its jitter only then (a system generator's draw is a system call).
            if peers[peer].newHandshakeAt == nil { peers[peer].dataSent(now: now, timers: timers, jitter: jitter(using: &generator)) }
            if let current = peers[peer].keypairs.current, current.isInitiator,
                current.sendCounter >= timers.rekeyAfterMessages || now - current.createdAt >= timers.rekeyAfterTime,
                let action = beginHandshake(peer, now: now, isRetry: false, using: &generator)
            {
                reservation.actions.append(action)
            }
            return reservation
        }
        if peers[peer].queue.count >= Self.maxQueuedPackets {
            peers[peer].queue.removeFirst()
            drops.count(.queueOverflow)
        }
        peers[peer].queue.append(Array(inner))
        reservation.queued = true
        if let action = beginHandshake(peer, now: now, isRetry: false, using: &generator) { reservation.actions.append(action) }
        return reservation
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

    private mutating func dropReservation(_ reason: DropReason) -> OutboundReservation {
        drops.count(reason)
        var reservation = OutboundReservation()
        reservation.dropped = reason
        return reservation
    }

    private mutating func dropOutbound(_ reason: DropReason) -> OutboundResult {
        drops.count(reason)
        var result = OutboundResult()
        result.dropped = reason
        return result
    }
}

/// What `beginSend` decided for one inner packet: seal it with `ticket` (outside the device's lock)
/// and send it to `endpoint`; or it was queued or dropped. `actions` go out either way.
public struct OutboundReservation: Sendable {
    /// The counter reserved for the packet and the session's sending context; nil: nothing to seal.
    public var ticket: SealTicket?
    public var endpoint: Endpoint?
    public var actions: [DeviceAction] = []
    public var queued = false
    public var dropped: DropReason?

    public init() {}
}
