// Keypair: one session's data-path state (whitepaper §5.4.6): the sending key and next counter, the
// receiving key and its replay window, both indices and the creation time. Encryption and
// decryption work in the caller's buffer: the 16-byte header goes in front of the inner packet,
// which is zero-padded to a multiple of 16 and sealed in place with its tag after it; or, out of
// place, from the inner packet's own buffer into the message's (SealTicket.seal(packet:…:into:),
// OpenTicket.open(_:into:)), which saves the data path a copy per packet. Nothing here allocates
// per packet. The keys are kept as SecretKeys too, so a later handover can export them.
// For a parallel data path the work splits in two: under the caller's lock only the cheap state
// changes (reserveSend: the counter; checkReceive/recordReceive: the replay window), and the AEAD
// work runs outside it with a SealTicket or OpenTicket, which hold a reference to the session's
// context. BoringSSL documents EVP_AEAD_CTX_seal/open as safe to call concurrently on one context
// (swift-crypto 3.12.3, Sources/CCryptoBoringSSL/include/CCryptoBoringSSL_aead.h: "This function
// may be called concurrently with itself or any other seal/open function on the same EVP_AEAD_CTX").
import WireGuardCrypto
import WireGuardProtocol

public enum TransportError: Error, Equatable, Sendable {
    /// The buffer cannot hold header + padded packet + tag.
    case bufferTooSmall(needed: Int, available: Int)
    /// The session has sent REJECT_AFTER_MESSAGES messages (or is otherwise spent).
    case counterExhausted
    /// Shorter than a header plus a tag, or not a transport message.
    case malformed
    /// Counter too old, a duplicate, or at/above REJECT_AFTER_MESSAGES.
    case replayed
    /// The tag did not verify (the buffer's payload has been wiped).
    case authenticationFailed
}

public struct Keypair: Sendable {
    /// Plaintext is padded to a multiple of this before sealing (whitepaper §5.4.6).
    public static let paddingMultiple = 16
    /// Bytes a transport message adds to its (padded) inner packet: header + tag.
    public static let overhead = TransportHeader.byteCount + ChaCha20Poly1305.tagCount

    public let sendingKey: SecretKey
    public let receivingKey: SecretKey
    let sender: ChaCha20Poly1305
    let receiver: ChaCha20Poly1305
    /// The counter the next message sent will carry.
    public internal(set) var sendCounter: UInt64 = 0
    public internal(set) var replay: ReplayWindow
    public let localIndex: UInt32
    public let remoteIndex: UInt32
    public let isInitiator: Bool
    /// When the session was derived (caller's monotonic clock).
    public let createdAt: Duration

    public init(keys: TransportKeys, createdAt: Duration, rejectAfterMessages: UInt64) {
        sendingKey = keys.sendingKey
        receivingKey = keys.receivingKey
        sender = ChaCha20Poly1305(key: keys.sendingKey)
        receiver = ChaCha20Poly1305(key: keys.receivingKey)
        replay = ReplayWindow(limit: rejectAfterMessages)
        localIndex = keys.localIndex
        remoteIndex = keys.remoteIndex
        isInitiator = keys.isInitiator
        self.createdAt = createdAt
    }

    /// The padded length of an inner packet of `count` bytes.
    public static func paddedCount(_ count: Int) -> Int { (count + paddingMultiple - 1) / paddingMultiple * paddingMultiple }

    /// The transport message size for an inner packet of `count` bytes.
    public static func messageCount(forPacket count: Int) -> Int { paddedCount(count) + overhead }

    /// Seals the inner packet at `buffer[16 ..< 16 + packetCount]` into a transport message starting
    /// at `buffer[0]`; returns the message length. A keepalive is `packetCount` 0.
    public mutating func encrypt(inPlace buffer: UnsafeMutableRawBufferPointer, packetCount: Int) throws(TransportError) -> Int {
        let needed = Self.messageCount(forPacket: packetCount)
        guard packetCount >= 0, buffer.count >= needed else { throw .bufferTooSmall(needed: needed, available: buffer.count) }
        return try reserveSend().seal(inPlace: buffer, packetCount: packetCount)
    }

    /// Takes the next send counter and what sealing under it needs: the caller seals with the
    /// ticket outside whatever lock guards this keypair (the AEAD context is shared and safe for
    /// concurrent use). A counter is never handed out twice; one whose seal then fails is skipped.
    public mutating func reserveSend() throws(TransportError) -> SealTicket {
        guard sendCounter < replay.limit else { throw .counterExhausted }
        defer { sendCounter += 1 }
        return SealTicket(sender: sender, counter: sendCounter, receiverIndex: remoteIndex)
    }

    /// Opens the transport message `buffer[0 ..< count]` in place; on success the padded inner
    /// packet is at `buffer[16 ..< 16 + returned count]` and the counter is recorded.
    public mutating func decrypt(inPlace buffer: UnsafeMutableRawBufferPointer, count: Int) throws(TransportError) -> Int {
        guard count <= buffer.count else { throw .malformed }
        let ticket = try checkReceive(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        let opened = try ticket.open(inPlace: buffer, count: count)
        try recordReceive(ticket)
        return opened
    }

    /// The pre-check before decryption, which changes nothing: a transport message to this session
    /// whose counter the replay window would accept. The ticket opens it outside any lock; then
    /// `recordReceive` records the counter (so a forged packet consumes none).
    public func checkReceive(_ message: UnsafeRawBufferPointer) throws(TransportError) -> OpenTicket {
        guard message.count >= TransportHeader.minimumMessageCount else { throw .malformed }
        let header: TransportHeader
        do throws(MessageParseError) {
            header = try TransportHeader(parsing: message)
        } catch {
            throw .malformed
        }
        guard header.receiverIndex == localIndex else { throw .malformed }
        guard replay.wouldAccept(header.counter) else { throw .replayed }
        return OpenTicket(
            receiver: receiver, counter: header.counter, localIndex: localIndex, remoteIndex: remoteIndex, createdAt: createdAt)
    }

    /// Records the counter of a message `ticket` opened (authenticated); `.replayed` if another
    /// copy was recorded since the pre-check, or the ticket is not this session's.
    public mutating func recordReceive(_ ticket: OpenTicket) throws(TransportError) {
        guard issued(ticket) else { throw .malformed }
        guard replay.accept(ticket.counter) else { throw .replayed }
    }

    /// Whether `ticket` was issued by this session (and not by one that reuses its index later).
    public func issued(_ ticket: OpenTicket) -> Bool {
        ticket.localIndex == localIndex && ticket.remoteIndex == remoteIndex && ticket.createdAt == createdAt
    }

    /// Whether this session may still send or receive at `now` (REJECT_AFTER_TIME, REJECT_AFTER_MESSAGES).
    public func isUsable(now: Duration, timers: WireGuardTimers) -> Bool {
        now - createdAt < timers.rejectAfterTime && sendCounter < timers.rejectAfterMessages
    }
}

/// One reserved send counter of a session and its sending context: seals one transport message
/// with no lock held (BoringSSL allows concurrent seal/open on one initialised EVP_AEAD_CTX).
public struct SealTicket: Sendable {
    let sender: ChaCha20Poly1305
    /// The counter (the nonce) this message carries; reserved for it alone.
    public let counter: UInt64
    /// The peer's index for the session (the header's receiver field).
    public let receiverIndex: UInt32

    /// Seals the inner packet at `buffer[16 ..< 16 + packetCount]` into a transport message at
    /// `buffer[0]`, zero-padding it in place; returns the message length.
    public func seal(inPlace buffer: UnsafeMutableRawBufferPointer, packetCount: Int) throws(TransportError) -> Int {
        let padded = Keypair.paddedCount(packetCount)
        let needed = padded + Keypair.overhead
        guard packetCount >= 0, buffer.count >= needed else { throw .bufferTooSmall(needed: needed, available: buffer.count) }
        let body = UnsafeMutableRawBufferPointer(rebasing: buffer[TransportHeader.byteCount...])
        if padded > packetCount {
            body.baseAddress!.advanced(by: packetCount).initializeMemory(as: UInt8.self, repeating: 0, count: padded - packetCount)
        }  // baseAddress!: buffer non-empty, needed ≥ 32
        do throws(CryptoError) {
            _ = try sender.seal(inPlace: body, plaintextCount: padded, nonce: .init(counter: counter))
        } catch {
            throw .bufferTooSmall(needed: needed, available: buffer.count)  // checked above; keeps the error typed
        }
        try! TransportHeader(receiverIndex: receiverIndex, counter: counter).write(into: buffer)  // buffer ≥ 32 bytes
        return needed
    }
}

extension SealTicket {
    /// Seals the inner packet `packet[0 ..< packetCount]` into a transport message at `output[0]`
    /// without copying it first: the ≤ 15 padding bytes are zeroed in `packet` itself, after the
    /// packet (so `packet` must have room for `Keypair.paddedCount(packetCount)` bytes), and the
    /// ciphertext is written at `output[16]`. `output` must not overlap `packet`. Returns the
    /// message length.
    public func seal(
        packet: UnsafeMutableRawBufferPointer, packetCount: Int, into output: UnsafeMutableRawBufferPointer
    ) throws(TransportError) -> Int {
        let padded = Keypair.paddedCount(packetCount)
        let needed = padded + Keypair.overhead
        guard packetCount >= 0, packet.count >= padded, output.count >= needed else {
            throw .bufferTooSmall(needed: needed, available: Swift.min(output.count, packet.count + Keypair.overhead))
        }
        if padded > packetCount {
            UnsafeMutableRawBufferPointer(rebasing: packet[packetCount..<padded]).initializeMemory(as: UInt8.self, repeating: 0)
        }
        do throws(CryptoError) {
            _ = try sender.seal(
                UnsafeRawBufferPointer(rebasing: packet[0..<padded]),
                into: UnsafeMutableRawBufferPointer(rebasing: output[TransportHeader.byteCount..<needed]), nonce: .init(counter: counter))
        } catch {
            throw .bufferTooSmall(needed: needed, available: output.count)  // sizes checked above; else overlapping buffers, a caller's bug
        }
        try! TransportHeader(receiverIndex: receiverIndex, counter: counter).write(into: output)  // output ≥ 32 bytes
        return needed
    }
}

/// A transport message that passed a session's pre-check (index, replay window): opens it with no
/// lock held; the session then records its counter (`Keypair.recordReceive`).
public struct OpenTicket: Sendable {
    let receiver: ChaCha20Poly1305
    /// The message's counter.
    public let counter: UInt64
    /// Our index of the session it was sent on.
    public let localIndex: UInt32
    let remoteIndex: UInt32
    let createdAt: Duration

    /// Authenticates and decrypts the message `buffer[0 ..< count]` in place; on success the
    /// padded inner packet is at `buffer[16 ..< 16 + returned count]`. On `.authenticationFailed`
    /// the payload has been wiped. Records nothing.
    public func open(inPlace buffer: UnsafeMutableRawBufferPointer, count: Int) throws(TransportError) -> Int {
        guard count <= buffer.count, count >= TransportHeader.minimumMessageCount else { throw .malformed }
        let body = UnsafeMutableRawBufferPointer(rebasing: buffer[TransportHeader.byteCount..<count])
        do throws(CryptoError) {
            return try receiver.open(inPlace: body, ciphertextCount: body.count, nonce: .init(counter: counter))
        } catch {
            throw .authenticationFailed
        }
    }
}

extension OpenTicket {
    /// Authenticates and decrypts the message `datagram` (header, ciphertext, tag) into `output`,
    /// a buffer not overlapping it: on success the padded inner packet is at `output[0 ..< returned
    /// count]` (so a receiver opens straight into the buffer it writes to the TUN from). On
    /// `.authenticationFailed` that part of `output` has been wiped. Records nothing.
    public func open(_ datagram: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(TransportError) -> Int {
        guard datagram.count >= TransportHeader.minimumMessageCount else { throw .malformed }
        let body = UnsafeRawBufferPointer(rebasing: datagram[TransportHeader.byteCount...])
        let needed = body.count - ChaCha20Poly1305.tagCount
        guard output.count >= needed else { throw .bufferTooSmall(needed: needed, available: output.count) }
        do throws(CryptoError) {
            return try receiver.open(body, into: output, nonce: .init(counter: counter))
        } catch {
            throw error == .authenticationFailed ? .authenticationFailed : .malformed  // sizes checked; else overlapping buffers
        }
    }
}

/// A peer's sessions (whitepaper §6.1 and the kernel's noise.c): `current` sends; `previous` still
/// receives what was in flight; `next` is the responder's new session, not used for sending until
/// the initiator proves it has it by sending data on it (then it becomes `current`).
public struct Keypairs: Sendable {
    public internal(set) var current: Keypair?
    public internal(set) var previous: Keypair?
    public internal(set) var next: Keypair?

    public init() {}

    /// Installs a fresh session. The initiator uses it at once; the responder keeps it as `next`.
    public mutating func install(_ keypair: Keypair) {
        if keypair.isInitiator {
            if let pending = next {
                previous = pending
                next = nil
            } else {
                previous = current
            }
            current = keypair
        } else {
            next = keypair
            previous = nil
        }
    }

    /// Which slot holds `localIndex`.
    public enum Slot: Sendable { case current, previous, next }

    public func slot(for localIndex: UInt32) -> Slot? {
        if current?.localIndex == localIndex { return .current }
        if next?.localIndex == localIndex { return .next }
        if previous?.localIndex == localIndex { return .previous }
        return nil
    }

    /// Data authenticated on `next`: confirm it (previous ← current, current ← next). True if it rotated.
    public mutating func confirmNext() -> Bool {
        guard let pending = next else { return false }
        previous = current
        current = pending
        next = nil
        return true
    }

    /// Every local index in use (to release them from the device's index table).
    public var localIndices: [UInt32] { [current, previous, next].compactMap { $0?.localIndex } }

    /// Drops every session; the SecretKeys wipe themselves when released.
    public mutating func clear() {
        current = nil
        previous = nil
        next = nil
    }

    /// The keypair in `slot` (a copy: shares the contexts, copies the replay window's reference).
    func keypair(in slot: Slot) -> Keypair? {
        switch slot {
        case .current: current
        case .previous: previous
        case .next: next
        }
    }

    /// Runs `body` on the keypair in `slot` in place (no copy of the replay window).
    mutating func with<R>(_ slot: Slot, _ body: (inout Keypair) throws(TransportError) -> R) throws(TransportError) -> R? {
        switch slot {
        case .current: return current == nil ? nil : try body(&current!)  // checked non-nil
        case .previous: return previous == nil ? nil : try body(&previous!)  // checked non-nil
        case .next: return next == nil ? nil : try body(&next!)  // checked non-nil
        }
    }
}
