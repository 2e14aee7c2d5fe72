// WireGuardDevice, inbound: one UDP datagram from endpoint E → what to deliver and what to send.
// Handshake messages are bounded (148/92/64 bytes) and parsed into fixed-size values; transport data
// is decrypted in the caller's buffer. Anything malformed, unauthenticated, replayed or addressed
// to an unknown index is counted by reason and dropped: nothing here traps on input, and nothing
// allocates in proportion to it. A peer's endpoint changes only on an authenticated packet.
// Transport data is received in two halves around the decryption, so a provider can open outside
// its lock: beginReceive (pre-checks, nothing recorded) → OpenTicket.open → finishReceive (counter
// recorded, then the authenticated bookkeeping). `receive(datagram:…)` runs all three.
import WireGuardCrypto
import WireGuardProtocol

extension WireGuardDevice {
    /// Handles the datagram `buffer[0 ..< count]` received from `source`. A decrypted inner packet
    /// is left in `buffer` (see `InboundResult.packet`).
    public mutating func receive(
        datagram buffer: UnsafeMutableRawBufferPointer, count: Int, from source: Endpoint, now: Duration,
        using generator: inout some RandomNumberGenerator
    ) -> InboundResult {
        switch beginReceive(datagram: UnsafeRawBufferPointer(buffer), count: count, from: source, now: now, using: &generator) {
        case .done(let result):
            return result
        case .open(let ticket):
            let opened = Result { () throws(TransportError) in try ticket.open(inPlace: buffer, count: count) }
            return finishReceive(
                ticket, opened: opened, datagram: UnsafeRawBufferPointer(buffer), count: count, from: source, now: now, using: &generator)
        }
    }

    /// The first half of receiving the datagram `buffer[0 ..< count]`, under the device's lock:
    /// handshake messages and cookie replies are handled whole (`.done`); a transport message that
    /// passes the checks before decryption (known index, live session, replay window) comes back
    /// as `.open`: open it with the ticket outside the lock, then call `finishReceive`. Nothing is
    /// recorded for a transport message here, so a forged one consumes no counter.
    public mutating func beginReceive(
        datagram buffer: UnsafeRawBufferPointer, count: Int, from source: Endpoint, now: Duration,
        using generator: inout some RandomNumberGenerator
    ) -> ReceiveStep {
        guard count >= 0, count <= buffer.count else { return .done(drop(.malformed)) }
        let datagram = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
        let type: MessageType
        do throws(MessageParseError) {
            type = try MessageType.classify(datagram)
        } catch {
            return .done(drop(.malformed))
        }
        switch type {
        case .initiation: return .done(receiveInitiation(datagram, from: source, now: now, using: &generator))
        case .response: return .done(receiveResponse(datagram, from: source, now: now, using: &generator))
        case .cookieReply: return .done(receiveCookieReply(datagram, now: now))
        case .transport: return beginTransport(datagram, now: now)
        }
    }

    /// Convenience for tests and simple callers: copies the datagram, returns the inner packet.
    public mutating func receive(
        _ datagram: [UInt8], from source: Endpoint, now: Duration, using generator: inout some RandomNumberGenerator
    ) -> (packet: [UInt8]?, result: InboundResult) {
        var buffer = datagram
        let result = buffer.withUnsafeMutableBytes {
            receive(datagram: $0, count: datagram.count, from: source, now: now, using: &generator)
        }
        return (result.packet.map { Array(buffer[$0]) }, result)
    }

    mutating func drop(_ reason: DropReason) -> InboundResult {
        drops.count(reason)
        var result = InboundResult()
        result.dropped = reason
        return result
    }

    /// The responder's gate for a handshake message: nil lets it through; otherwise what to answer
    /// instead — a drop for a bad mac1, or under load, for a message without a current mac2, a
    /// cookie reply to `source`. A message with a valid mac1 (one that would cost Diffie-Hellman
    /// work) counts towards the load first, so junk without our public key cannot raise it.
    private mutating func cookieGate(
        _ message: some HandshakeMessage, senderIndex: UInt32, from source: Endpoint, now: Duration,
        using generator: inout some RandomNumberGenerator
    ) -> InboundResult? {
        let sourceBytes = source.cookieSource
        do throws(HandshakeError) {
            if handshakeLoad != nil {
                _ = try cookieChecker.verify(message, source: sourceBytes, now: now, underLoad: false)  // mac1 only
                underLoad = handshakeLoad?.record(handshakes: 1, now: now) ?? underLoad
                guard underLoad else { return nil }
            }
            guard try cookieChecker.verify(message, source: sourceBytes, now: now, underLoad: underLoad) == .sendCookie else { return nil }
        } catch {
            return drop(.invalidMAC1)
        }
        let reply = cookieChecker.makeReply(to: message, receiverIndex: senderIndex, source: sourceBytes, now: now, using: &generator)
        cookieRepliesSent &+= 1
        var result = InboundResult()
        result.actions = [.send(reply.bytes, to: source)]
        return result
    }

    private mutating func receiveInitiation(
        _ datagram: UnsafeRawBufferPointer, from source: Endpoint, now: Duration, using generator: inout some RandomNumberGenerator
    ) -> InboundResult {
        let message: HandshakeInitiation
        do throws(MessageParseError) { message = try HandshakeInitiation(parsing: datagram) } catch { return drop(.malformed) }
        if let refusal = cookieGate(message, senderIndex: message.senderIndex, from: source, now: now, using: &generator) {
            return refusal
        }
        let responder: Responder
        do throws(HandshakeError) {
            responder = try Responder.consume(message, local: privateKey) { key in
                peerByKey[key].map { ResponderPeer(presharedKey: peers[$0].presharedKey, latestTimestamp: peers[$0].latestTimestamp) }
            }
        } catch {
            return drop(error == .unknownPeer ? .unknownPeer : error == .replayedTimestamp ? .replayedInitiation : .handshakeFailed)
        }
        guard let peer = peerByKey[responder.peer] else { return drop(.unknownPeer) }
        if let last = peers[peer].lastInitiationConsumedAt, now >= last, now - last < Self.initiationFloodInterval {
            return drop(.initiationFlood)
        }
        let index = allocateIndex(for: peer, using: &generator)
        let ephemeral = PrivateKey.generate(using: &generator)
        let responded: (HandshakeResponse, TransportKeys)
        do throws(HandshakeError) {
            responded = try responder.respond(ephemeral: ephemeral, senderIndex: index)
        } catch {
            peerByIndex.removeValue(forKey: index)
            return drop(.handshakeFailed)
        }
        var response = responded.0
        peers[peer].latestTimestamp = responder.timestamp
        peers[peer].lastInitiationConsumedAt = now
        peers[peer].cookieGenerator.addMACs(to: &response, now: now)
        let keypair = Keypair(keys: responded.1, createdAt: now, rejectAfterMessages: timers.rejectAfterMessages)
        updateIndices(of: peer) { $0.keypairs.install(keypair) }
        peers[peer].endpoint = source
        peers[peer].sessionDerived(now: now, timers: timers)
        peers[peer].anyAuthenticatedPacketReceived()
        peers[peer].anyAuthenticatedPacketSent()
        peers[peer].anyAuthenticatedPacketTraversal(now: now)
        var result = InboundResult()
        result.peer = responder.peer
        result.actions = [.send(response.bytes, to: source)]
        return result
    }

    private mutating func receiveResponse(
        _ datagram: UnsafeRawBufferPointer, from source: Endpoint, now: Duration, using generator: inout some RandomNumberGenerator
    ) -> InboundResult {
        let message: HandshakeResponse
        do throws(MessageParseError) { message = try HandshakeResponse(parsing: datagram) } catch { return drop(.malformed) }
        guard let peer = peerByIndex[message.receiverIndex], let initiator = peers[peer].handshake,
            initiator.localIndex == message.receiverIndex
        else { return drop(.unknownReceiverIndex) }
        if let refusal = cookieGate(message, senderIndex: message.senderIndex, from: source, now: now, using: &generator) {
            return refusal
        }
        let keys: TransportKeys
        do throws(HandshakeError) { keys = try initiator.consume(response: message, local: privateKey) } catch {
            return drop(.handshakeFailed)
        }
        let keypair = Keypair(keys: keys, createdAt: now, rejectAfterMessages: timers.rejectAfterMessages)
        updateIndices(of: peer) { state in
            state.handshake = nil
            state.keypairs.install(keypair)
        }
        // The handshake's index now names the session: updateIndices released nothing still in use.
        peerByIndex[keys.localIndex] = peer
        peers[peer].endpoint = source
        peers[peer].handshakeComplete(now: now)
        peers[peer].sessionDerived(now: now, timers: timers)
        peers[peer].anyAuthenticatedPacketReceived()
        peers[peer].anyAuthenticatedPacketTraversal(now: now)
        var result = InboundResult()
        result.peer = peers[peer].publicKey
        result.actions = flushQueue(peer, now: now, keepaliveIfEmpty: true, using: &generator)
        return result
    }

    private mutating func receiveCookieReply(_ datagram: UnsafeRawBufferPointer, now: Duration) -> InboundResult {
        let reply: CookieReply
        do throws(MessageParseError) { reply = try CookieReply(parsing: datagram) } catch { return drop(.malformed) }
        guard let peer = peerByIndex[reply.receiverIndex], peers[peer].handshake?.localIndex == reply.receiverIndex else {
            return drop(.unknownReceiverIndex)
        }
        do throws(HandshakeError) { try peers[peer].cookieGenerator.consume(reply, now: now) } catch {
            return drop(.invalidCookieReply)
        }
        peers[peer].statistics.cookieRepliesReceived += 1
        // No resend now: the retransmit timer's next initiation carries mac2 (as wireguard-go).
        var result = InboundResult()
        result.peer = peers[peer].publicKey
        return result
    }

    /// The transport pre-check: index → peer and session, REJECT_AFTER_TIME, replay window.
    private mutating func beginTransport(_ datagram: UnsafeRawBufferPointer, now: Duration) -> ReceiveStep {
        guard datagram.count >= TransportHeader.minimumMessageCount else { return .done(drop(.malformed)) }
        let receiverIndex = UInt32(littleEndian: datagram.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard let peer = peerByIndex[receiverIndex], let slot = peers[peer].keypairs.slot(for: receiverIndex),
            let keypair = peers[peer].keypairs.keypair(in: slot)
        else {
            return .done(drop(.unknownReceiverIndex))
        }
        guard now - keypair.createdAt < timers.rejectAfterTime else { return .done(drop(.expiredSession)) }
        do throws(TransportError) {
            return .open(try keypair.checkReceive(datagram))
        } catch {
            return .done(drop(error == .replayed ? .replayedCounter : .malformed))
        }
    }

    /// The second half of receiving a transport message, under the device's lock again, with what
    /// `ticket.open` gave: on success the counter is recorded (a copy recorded meanwhile is a
    /// replay), the endpoint roams, timers and statistics move, a responder's `next` session is
    /// confirmed, and the inner packet is checked against the peer's AllowedIPs; `datagram` is
    /// the opened buffer. A failed open records nothing.
    public mutating func finishReceive(
        _ ticket: OpenTicket, opened: Result<Int, TransportError>, datagram buffer: UnsafeRawBufferPointer, count: Int,
        from source: Endpoint, now: Duration, using generator: inout some RandomNumberGenerator
    ) -> InboundResult {
        finishReceive(
            ticket, opened: opened, inside: buffer, at: TransportHeader.byteCount, limit: min(count, buffer.count), datagramCount: count,
            from: source, now: now, using: &generator)
    }

    /// `finishReceive(_:opened:datagram:…)` for a message opened out of place
    /// (`OpenTicket.open(_:into:)`): `plaintext` holds the padded inner packet from its start, and
    /// `InboundResult.packet` is a range of `plaintext`. `datagramCount` is the message's length.
    public mutating func finishReceive(
        _ ticket: OpenTicket, opened: Result<Int, TransportError>, plaintext: UnsafeRawBufferPointer, datagramCount: Int,
        from source: Endpoint, now: Duration, using generator: inout some RandomNumberGenerator
    ) -> InboundResult {
        finishReceive(
            ticket, opened: opened, inside: plaintext, at: 0, limit: plaintext.count, datagramCount: datagramCount, from: source,
            now: now, using: &generator)
    }

    /// The core of both: the inner packet is `buffer[offset ..< offset + opened count]`, which must
    /// end by `limit`.
    private mutating func finishReceive(
        _ ticket: OpenTicket, opened: Result<Int, TransportError>, inside buffer: UnsafeRawBufferPointer, at offset: Int, limit: Int,
        datagramCount count: Int, from source: Endpoint, now: Duration, using generator: inout some RandomNumberGenerator
    ) -> InboundResult {
        let plaintextCount: Int
        switch opened {
        case .success(let value): plaintextCount = value
        case .failure(.authenticationFailed): return drop(.authenticationFailed)
        case .failure(.replayed): return drop(.replayedCounter)
        case .failure: return drop(.malformed)
        }
        guard let peer = peerByIndex[ticket.localIndex], let slot = peers[peer].keypairs.slot(for: ticket.localIndex) else {
            return drop(.unknownReceiverIndex)  // the session went while the message was opened
        }
        do throws(TransportError) {
            _ = try peers[peer].keypairs.with(slot) { (keypair: inout Keypair) throws(TransportError) in try keypair.recordReceive(ticket) }
        } catch {
            return drop(error == .replayed ? .replayedCounter : .unknownReceiverIndex)
        }
        guard plaintextCount >= 0, offset + plaintextCount <= limit else { return drop(.malformed) }
        // Authenticated from here on.
        var result = InboundResult()
        result.peer = peers[peer].publicKey
        peers[peer].endpoint = source
        peers[peer].statistics.receivedBytes += UInt64(count)
        if slot == .next {
            updateIndices(of: peer) { _ = $0.keypairs.confirmNext() }
            // The responder's handshake is complete once the initiator's first data confirms it
            // (kernel receive.c, wireguard-go ReceivedWithKeypair): latest handshake, timers.
            peers[peer].handshakeComplete(now: now)
            result.actions = flushQueue(peer, now: now, keepaliveIfEmpty: false, using: &generator)
        }
        peers[peer].anyAuthenticatedPacketReceived()
        peers[peer].anyAuthenticatedPacketTraversal(now: now)
        if let current = peers[peer].keypairs.current, current.isInitiator, !peers[peer].sentLastMinuteHandshake,
            now - current.createdAt >= timers.rekeyOnReceiveAfter
        {
            peers[peer].sentLastMinuteHandshake = true
            if let action = beginHandshake(peer, now: now, isRetry: false, using: &generator) { result.actions.append(action) }
        }
        if plaintextCount == 0 {
            peers[peer].statistics.keepalivesReceived += 1
            return result
        }
        peers[peer].dataReceived(now: now, timers: timers)
        let inner = UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + plaintextCount])
        guard let length = InnerPacket.length(of: inner) else {
            drops.count(.malformedInnerPacket)
            result.dropped = .malformedInnerPacket
            return result
        }
        guard allowedIPs.allows(source: inner, from: peer) else {
            drops.count(.disallowedSource)
            result.dropped = .disallowedSource
            return result
        }
        result.packet = offset..<offset + length
        return result
    }
}

/// What `beginReceive` made of a datagram.
public enum ReceiveStep: Sendable {
    /// Handled whole: a handshake message, a cookie reply, or a drop.
    case done(InboundResult)
    /// A transport message past the pre-checks: open it with the ticket (no lock), then `finishReceive`.
    case open(OpenTicket)
}
