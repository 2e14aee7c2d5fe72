// VarlinkPeer: a symmetric varlink endpoint over one connected AF_UNIX stream socket, where both
// ends call and both ends serve — the channel between culvertd and a provider (its fd 4).
//
// The protocol (io.culvert.Provider.varlink states it): a message with a "method" member is a
// call to the other end; any other message is the reply to the oldest call this end sent that
// has not had its final reply (`"continues": true` keeps that call at the head). Received calls
// are handled one at a time, in order: the next is handed to `onCall` only after the current one
// has its final reply. Replies to this end's own calls are processed meanwhile — a provider
// handles StartTunnel by calling SetTunnelNetworkSettings and waiting for the reply.
//
// Descriptors (SCM_RIGHTS) and which message they belong to:
//   - Sending: a frame that carries descriptors goes out in one sendmsg whose first byte is the
//     frame's first byte and whose bytes are that frame's only (a longer frame continues in later
//     sends, without descriptors). VarlinkStreamOutput queues such a frame as its own entry.
//   - Receiving: on Linux a unix stream recvmsg stops right after the first skb that carried
//     descriptors. With the sending rule that skb begins with the frame's first byte and holds
//     no other message start, so the descriptors one read returns belong to the LAST message
//     that starts within that read's bytes. A read that returns descriptors but starts no message
//     is a protocol error (its descriptors are closed).
//   - Ownership: descriptors of a received call go to the handler, of a received reply to the
//     reply handler. Every other descriptor received (on an error reply, a refused call, a
//     message that is never complete, anything pending at close) is closed, never leaked.
//     Descriptors passed to `call` or `reply` are taken by the peer and closed once sent.
//
// The socket mechanics (sources, framing, the output queue and its bound, closing once) are a
// VarlinkStream's; the peer adds the call/reply matching and the queue of received calls.

import CulvertSystem
import Dispatch

/// Bounds one VarlinkPeer enforces against the other end. Exceeding any of them closes the peer.
public struct VarlinkPeerLimits: Sendable {
    /// Calls received while one is being handled wait in memory, up to this many bytes. One call
    /// always fits, whatever its size.
    public static let defaultMaximumQueuedCallBytes = VarlinkLimits.defaultMaximumMessageSize
    /// Received descriptors waiting with queued calls.
    public static let defaultMaximumQueuedDescriptors = 256

    /// Largest message (JSON plus NUL) accepted.
    public var maximumMessageSize = VarlinkLimits.defaultMaximumMessageSize
    public var maximumDepth = VarlinkLimits.defaultMaximumDepth
    /// Bytes waiting for the other end to read; past this it is not reading and the peer closes.
    /// One frame always fits an empty queue.
    public var maximumQueuedOutput = VarlinkLimits.defaultMaximumQueuedOutput
    public var maximumDescriptorsPerMessage = DescriptorPassing.maximumDescriptorsPerMessage
    public var maximumQueuedCallBytes = defaultMaximumQueuedCallBytes
    public var maximumQueuedDescriptors = defaultMaximumQueuedDescriptors
    /// Descriptors a received call may carry, by method member name; a member not listed takes
    /// none. More closes the peer with `.descriptorsNotAllowed`. Nil: any number up to
    /// `maximumDescriptorsPerMessage`.
    public var descriptorsPerCall: [String: Int]?
    /// The same for replies, by the member of the call they answer.
    public var descriptorsPerReply: [String: Int]?

    public init() {}
}

/// One end of a channel on which both ends make and serve calls of one interface.
///
/// Everything happens on `queue`: `start`, `call`, `close` and the responders must be used there,
/// and `onCall`, `onClose` and reply handlers run there. The peer owns `descriptor` and closes it
/// when it closes. It keeps itself alive while started.
public final class VarlinkPeer: @unchecked Sendable {  // all mutable state is confined to `queue`; the stream calls back on it
    private struct OutgoingCall {
        var member: String
        var more: Bool
        var reply: (Result<VarlinkPeerReply, VarlinkPeerCallError>) -> Void
    }

    private struct QueuedCall {
        var message: VarlinkCallMessage
        var descriptors: [Descriptor]
        var size: Int
    }

    public let queue: DispatchQueue
    public let interface: VarlinkInterface
    /// Member names of `interface` this end serves; calls for the others get MethodNotImplemented.
    public let serves: Set<String>
    public let limits: VarlinkPeerLimits

    /// Called with each received call that passed validation, one at a time. The handler must
    /// eventually answer through the responder (unless the call is `oneway`), and owns the
    /// call's descriptors. Without a handler every call gets MethodNotImplemented.
    public var onCall: ((VarlinkPeerCall, VarlinkPeerResponder) -> Void)?
    /// Called once when the peer closes, after every pending outgoing call completed with `.closed`.
    public var onClose: ((VarlinkPeerCloseReason) -> Void)?

    private let stream: VarlinkStream
    /// Calls this end made that await their final reply, oldest first.
    private var awaitingReply: [OutgoingCall] = []
    /// Received calls not yet handed to `onCall`, oldest first.
    private var queuedCalls: [QueuedCall] = []
    private var queuedCallBytes = 0
    private var queuedCallDescriptors = 0
    /// The received call being handled.
    private var current: VarlinkPeerResponder?
    /// Set while `dispatchCalls` runs, so a handler replying at once does not recurse into it.
    private var dispatching = false
    /// Set while a large frame is parsed off the queue: later frames wait in the stream.
    private var decodingLargeFrame = false

    /// Prepares a peer on `descriptor`, a connected AF_UNIX stream socket it takes ownership of.
    /// `serves` must name methods of `interface`.
    public init(
        descriptor: Descriptor, interface: VarlinkInterface, serves: Set<String>, limits: VarlinkPeerLimits = VarlinkPeerLimits(),
        queue: DispatchQueue
    ) {
        // A served method the interface lacks could never be called: a defect in the caller.
        precondition(serves.isSubset(of: interface.methods.keys), "VarlinkPeer serves methods \(interface.name) does not declare")
        stream = VarlinkStream(
            descriptor: descriptor, transport: .bytesAndDescriptors(maximumPerRead: limits.maximumDescriptorsPerMessage),
            maximumMessageSize: limits.maximumMessageSize, maximumQueuedOutput: limits.maximumQueuedOutput, queue: queue)
        self.interface = interface
        self.serves = serves
        self.limits = limits
        self.queue = queue
    }

    /// True between `start` and the close.
    public var isOpen: Bool { stream.isOpen }

    /// Starts reading and sending (calls made before `start` are sent now). Call once.
    public func start() {
        dispatchPrecondition(condition: .onQueue(queue))
        guard stream.state == .idle else { return }
        stream.onInput = { [self] in processInput() }
        stream.onEndOfInput = { [self] in endOfInput() }
        stream.onClose = { [self] reason in closed(because: reason) }
        stream.start()
    }

    /// Calls `method` (fully qualified, e.g. `io.culvert.Provider.StartTunnel`) on the other end,
    /// passing `descriptors` with it (the peer takes them and closes them once sent).
    ///
    /// `reply` runs on `queue` for each reply: once with the final reply or error, and before that
    /// once per `continues` reply if `more` is set. If the connection closes first it gets
    /// `.closed`. For `oneway` calls it never runs. On a closed peer it gets `.closed` asynchronously.
    public func call(
        _ method: String, parameters: JSONValue = [:], passing descriptors: [Descriptor] = [], more: Bool = false,
        oneway: Bool = false, reply: @escaping (Result<VarlinkPeerReply, VarlinkPeerCallError>) -> Void = { _ in }
    ) {
        dispatchPrecondition(condition: .onQueue(queue))
        call(
            encoded: EncodedCall(VarlinkCallMessage(method: method, parameters: parameters, more: more, oneway: oneway)),
            passing: descriptors, reply: reply)
    }

    /// Calls with a message encoded beforehand (`EncodedCall`, which may be made on any thread),
    /// so the encoding of a large message need not run on `queue`. Otherwise as `call`.
    public func call(
        encoded message: EncodedCall, passing descriptors: [Descriptor] = [],
        reply: @escaping (Result<VarlinkPeerReply, VarlinkPeerCallError>) -> Void = { _ in }
    ) {
        dispatchPrecondition(condition: .onQueue(queue))
        if let closeReason = stream.closeReason {
            descriptors.forEach { $0.close() }
            if !message.oneway {
                let late = LateReply(reply: reply)
                queue.async { late.reply(.failure(.closed(closeReason))) }
            }
            return
        }
        if !message.oneway { awaitingReply.append(OutgoingCall(member: message.member, more: message.more, reply: reply)) }
        send(message.frame, passing: descriptors)
    }

    /// Closes the connection at once: unsent output is dropped, pending outgoing calls complete
    /// with `.closed(.closedLocally)`, then `onClose` runs.
    public func close() {
        dispatchPrecondition(condition: .onQueue(queue))
        close(because: .closedLocally)
    }

    // MARK: input

    /// Handles every complete message received: replies at once, calls into the queue. A large
    /// frame is parsed off the queue (`VarlinkFrameDecoding`); the frames after it wait for it.
    private func processInput() {
        while stream.isOpen, !decodingLargeFrame {
            let frame: VarlinkFrame?
            do {
                frame = try stream.nextFrame()
            } catch {
                close(because: error)
                return
            }
            guard let frame else { break }
            guard frame.bytes.count >= VarlinkFrameDecoding.offQueueFrom else {
                received(
                    descriptors: frame.descriptors, size: frame.bytes.count,
                    parsed: VarlinkFrameDecoding.parse(frame.bytes, maximumDepth: limits.maximumDepth))
                continue
            }
            decodingLargeFrame = true
            // The completion keeps the descriptors, not the bytes: the decode queue lets go of those.
            let descriptors = frame.descriptors
            let size = frame.bytes.count
            VarlinkFrameDecoding.parseOffQueue(frame.bytes, maximumDepth: limits.maximumDepth, returningTo: queue) { [self] parsed in
                decodingLargeFrame = false
                guard stream.isOpen else {
                    descriptors.forEach { $0.close() }
                    return
                }
                received(descriptors: descriptors, size: size, parsed: parsed)
                processInput()
                if stream.inputEnded { endOfInput() }
            }
        }
    }

    /// The other end has finished sending: close once every frame it sent is handled.
    private func endOfInput() {
        guard !decodingLargeFrame else { return }  // the decode's completion comes back here
        close(because: .peerClosed)
    }

    /// Handles one parsed message of `size` bytes (NUL not counted) that came with `descriptors`.
    private func received(descriptors: [Descriptor], size: Int, parsed: Result<JSONValue, VarlinkError>) {
        let value: JSONValue
        switch parsed {
        case .success(let parsedValue):
            value = parsedValue
        case .failure(let error):
            descriptors.forEach { $0.close() }
            close(because: .protocolError(error.description))
            return
        }
        if value["method"] != nil {
            do {
                let message = try VarlinkCallMessage.decode(value)
                guard allowed(descriptors, message.member, limits.descriptorsPerCall) else { return }
                enqueue(message, descriptors: descriptors, size: size + 1)
            } catch {
                descriptors.forEach { $0.close() }
                close(because: .protocolError(error.description))
            }
        } else {
            do {
                deliver(try VarlinkReplyMessage.decode(value), descriptors: descriptors)
            } catch {
                descriptors.forEach { $0.close() }
                close(because: .protocolError(error.description))
            }
        }
    }

    /// False (the descriptors closed, the peer closing) if `member` takes fewer than arrived.
    private func allowed(_ descriptors: [Descriptor], _ member: String, _ allowances: [String: Int]?) -> Bool {
        guard let allowances, descriptors.count > allowances[member, default: 0] else { return true }
        descriptors.forEach { $0.close() }
        close(because: .descriptorsNotAllowed(method: member, received: descriptors.count, allowed: allowances[member, default: 0]))
        return false
    }

    /// Hands a reply to the oldest outgoing call still waiting.
    private func deliver(_ reply: VarlinkReplyMessage, descriptors: [Descriptor]) {
        guard let head = awaitingReply.first else {
            descriptors.forEach { $0.close() }
            close(because: .protocolError("a reply to no call"))
            return
        }
        guard allowed(descriptors, head.member, limits.descriptorsPerReply) else { return }
        if let error = reply.error {
            descriptors.forEach { $0.close() }
            awaitingReply.removeFirst()
            head.reply(.failure(.remote(VarlinkError(error, reply.parameters))))
            return
        }
        guard !reply.continues || head.more else {
            descriptors.forEach { $0.close() }
            close(because: .protocolError("continues on a call made without more"))
            return
        }
        if !reply.continues { awaitingReply.removeFirst() }
        head.reply(.success(VarlinkPeerReply(parameters: reply.parameters, continues: reply.continues, descriptors: descriptors)))
    }

    private func enqueue(_ message: VarlinkCallMessage, descriptors: [Descriptor], size: Int) {
        if !queuedCalls.isEmpty {
            var reason: VarlinkPeerCloseReason?
            if queuedCallBytes + size > limits.maximumQueuedCallBytes { reason = .tooLarge }
            if queuedCallDescriptors + descriptors.count > limits.maximumQueuedDescriptors { reason = .tooManyDescriptors }
            if let reason {
                descriptors.forEach { $0.close() }
                close(because: reason)
                return
            }
        }
        queuedCalls.append(QueuedCall(message: message, descriptors: descriptors, size: size))
        queuedCallBytes += size
        queuedCallDescriptors += descriptors.count
        dispatchCalls()
    }

    /// Hands queued calls to the handler while none is in progress.
    private func dispatchCalls() {
        guard !dispatching else { return }
        dispatching = true
        defer { dispatching = false }
        while stream.isOpen, current == nil, !queuedCalls.isEmpty {
            let next = queuedCalls.removeFirst()
            queuedCallBytes -= next.size
            queuedCallDescriptors -= next.descriptors.count
            dispatch(next.message, descriptors: next.descriptors)
        }
    }

    private func dispatch(_ message: VarlinkCallMessage, descriptors: [Descriptor]) {
        let responder = VarlinkPeerResponder(peer: self, queue: queue, wantsMore: message.more, oneway: message.oneway)
        let refusal = self.refusal(of: message)
        guard refusal == nil, let onCall else {
            descriptors.forEach { $0.close() }
            responder.fail(refusal ?? .methodNotImplemented(message.method))
            return
        }
        if !message.oneway { current = responder }
        onCall(VarlinkPeerCall(message: message, descriptors: descriptors), responder)
    }

    /// The standard error a received call gets instead of reaching the handler, if any.
    private func refusal(of message: VarlinkCallMessage) -> VarlinkError? {
        guard message.interface == interface.name else { return .interfaceNotFound(message.interface) }
        guard interface.methods[message.member] != nil else { return .methodNotFound(message.method) }
        guard serves.contains(message.member), !message.upgrade else { return .methodNotImplemented(message.method) }
        do throws(VarlinkValidationError) {
            try interface.validate(parameters: message.parameters, of: message.member)
        } catch {
            return .invalidParameter(error.parameter)
        }
        return nil
    }

    /// Called by a responder after its final reply.
    func callFinished(_ responder: VarlinkPeerResponder) {
        guard current === responder else { return }
        current = nil
        dispatchCalls()
    }

    // MARK: output

    /// Queues a frame (taking `descriptors`) and sends what the socket takes.
    func send(_ frame: [UInt8], passing descriptors: [Descriptor]) {
        if !stream.send(frame, passing: descriptors) { close(because: .outputOverflow) }
    }

    // MARK: teardown

    private func close(because reason: VarlinkCloseReason) {
        guard stream.closeReason == nil else { return }
        if stream.state == .idle {
            // Never started: the stream has no callbacks to report its close through.
            stream.close(because: reason)
            closed(because: reason)
        } else {
            stream.close(because: reason)
        }
    }

    /// The stream closed: nothing queued or pending will be answered now.
    private func closed(because reason: VarlinkCloseReason) {
        for call in queuedCalls { call.descriptors.forEach { $0.close() } }
        queuedCalls = []
        queuedCallBytes = 0
        queuedCallDescriptors = 0
        current?.cancel()
        current = nil
        let waiting = awaitingReply
        awaitingReply = []
        for call in waiting { call.reply(.failure(.closed(reason))) }
        let handler = onClose
        // Dropping the handlers breaks the cycles they usually form through captures of the peer.
        onClose = nil
        onCall = nil
        handler?(reason)
    }
}

/// A reply handler carried to a later turn of the peer's queue, where it runs as it would have.
private struct LateReply: @unchecked Sendable {  // created and run on the peer's queue only
    let reply: (Result<VarlinkPeerReply, VarlinkPeerCallError>) -> Void
}
