// WireGuardDevice, inbound: one UDP datagram from endpoint E → what to deliver and what to send.
// Handshake messages are bounded (148/92/64 bytes) and parsed into fixed-size values; transport data
// is decrypted in the caller's buffer. Anything malformed, unauthenticated, replayed or addressed
// to an unknown index is counted by reason and dropped: nothing here traps on input, and nothing
// allocates in proportion to it. A peer's endpoint changes only on an authenticated packet.
import WireGuardCrypto
import WireGuardProtocol

extension WireGuardDevice {
    /// Handles the datagram `buffer[0 ..< count]` received from `source`. A decrypted inner packet
    /// is left in `buffer` (see `InboundResult.packet`).
    public mutating func receive(
        datagram buffer: UnsafeMutableRawBufferPointer, count: Int, from source: Endpoint, now: Duration,
        using generator: inout some RandomNumberGenerator
    ) -> InboundResult {
        guard count >= 0, count <= buffer.count else { return drop(.malformed) }
        let datagram = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
        let type: MessageType
        do throws(MessageParseError) {
            type = try MessageType.classify(datagram)
        } catch {
            return drop(.malformed)
        }
        switch type {
        case .initiation: return receiveInitiation(datagram, from: source, now: now, using: &generator)
        case .response: return receiveResponse(datagram, from: source, now: now, using: &generator)
        case .cookieReply: return receiveCookieReply(datagram, now: now)
        case .transport: return receiveTransport(buffer, count: count, from: source, now: now, using: &generator)
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
    /// cookie reply to `source`.
    private mutating func cookieGate(
        _ message: some HandshakeMessage, senderIndex: UInt32, from source: Endpoint, now: Duration,
        using generator: inout some RandomNumberGenerator
    ) -> InboundResult? {
        let sourceBytes = source.cookieSource
        do throws(HandshakeError) {
            guard try cookieChecker.verify(message, source: sourceBytes, now: now, underLoad: underLoad) == .sendCookie else { return nil }
        } catch {
            return drop(.invalidMAC1)
        }
        let reply = cookieChecker.makeReply(to: message, receiverIndex: senderIndex, source: sourceBytes, now: now, using: &generator)
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

    private mutating func receiveTransport(
        _ buffer: UnsafeMutableRawBufferPointer, count: Int, from source: Endpoint, now: Duration,
        using generator: inout some RandomNumberGenerator
    ) -> InboundResult {
        guard count >= TransportHeader.minimumMessageCount else { return drop(.malformed) }
        let receiverIndex = UInt32(littleEndian: UnsafeRawBufferPointer(buffer).loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard let peer = peerByIndex[receiverIndex], let slot = peers[peer].keypairs.slot(for: receiverIndex) else {
            return drop(.unknownReceiverIndex)
        }
        let opened: Int?
        let rejectAfterTime = timers.rejectAfterTime
        do throws(TransportError) {
            opened = try peers[peer].keypairs.with(slot) { (keypair: inout Keypair) throws(TransportError) -> Int in
                guard now - keypair.createdAt < rejectAfterTime else { throw .counterExhausted }
                return try keypair.decrypt(inPlace: buffer, count: count)
            }
        } catch {
            switch error {
            case .counterExhausted: return drop(.expiredSession)
            case .replayed: return drop(.replayedCounter)
            case .authenticationFailed: return drop(.authenticationFailed)
            case .malformed, .bufferTooSmall: return drop(.malformed)
            }
        }
        guard let plaintextCount = opened else { return drop(.unknownReceiverIndex) }
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
        let inner = UnsafeRawBufferPointer(rebasing: buffer[TransportHeader.byteCount..<TransportHeader.byteCount + plaintextCount])
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
        result.packet = TransportHeader.byteCount..<TransportHeader.byteCount + length
        return result
    }
}
