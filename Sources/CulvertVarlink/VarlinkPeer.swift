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
//     sends, without descriptors). VarlinkPeerOutput queues such a frame as its own entry.
//   - Receiving: on Linux a unix stream recvmsg stops right after the first skb that carried
//     descriptors. With the sending rule that skb begins with the frame's first byte and holds
//     no other message start, so the descriptors one read returns belong to the LAST message
//     that starts within that read's bytes. A read that returns descriptors but starts no message
//     is a protocol error (its descriptors are closed).
//   - Ownership: descriptors of a received call go to the handler, of a received reply to the
//     reply handler. Every other descriptor received (on an error reply, a refused call, a
//     message that is never complete, anything pending at close) is closed, never leaked.
//     Descriptors passed to `call` or `reply` are taken by the peer and closed once sent.

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

    public init() {}
}

/// One end of a channel on which both ends make and serve calls of one interface.
///
/// Everything happens on `queue`: `start`, `call`, `close` and the responders must be used there,
/// and `onCall`, `onClose` and reply handlers run there. The peer owns `descriptor` and closes it
/// when it closes. It keeps itself alive while started.
public final class VarlinkPeer: @unchecked Sendable {  // all mutable state is confined to `queue`; Dispatch handlers hop onto it
    private enum State { case idle, open, closed }

    private struct OutgoingCall {
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

    private let descriptor: Descriptor
    private var state = State.idle
    private var closeReason: VarlinkPeerCloseReason?
    private var readSource: (any DispatchSourceRead)?
    private var writeSource: (any DispatchSourceWrite)?
    private var writeSourceSuspended = true
    private var pendingCancels = 0

    private var input = VarlinkPeerInput()
    private var output = VarlinkPeerOutput()
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

    /// Prepares a peer on `descriptor`, a connected AF_UNIX stream socket it takes ownership of.
    /// `serves` must name methods of `interface`.
    public init(
        descriptor: Descriptor, interface: VarlinkInterface, serves: Set<String>, limits: VarlinkPeerLimits = VarlinkPeerLimits(),
        queue: DispatchQueue
    ) {
        // A served method the interface lacks could never be called: a defect in the caller.
        precondition(serves.isSubset(of: interface.methods.keys), "VarlinkPeer serves methods \(interface.name) does not declare")
        self.descriptor = descriptor
        self.interface = interface
        self.serves = serves
        self.limits = limits
        self.queue = queue
    }

    /// True between `start` and the close.
    public var isOpen: Bool { state == .open }

    /// Starts reading and sending (calls made before `start` are sent now). Call once.
    public func start() {
        dispatchPrecondition(condition: .onQueue(queue))
        guard state == .idle else { return }
        do {
            try descriptor.setNonblocking(true)
        } catch {
            close(because: .system(error))
            return
        }
        state = .open
        let read = DispatchSource.makeReadSource(fileDescriptor: descriptor.rawValue, queue: queue)
        read.setEventHandler { [self] in readAvailable() }
        read.setCancelHandler { [self] in sourceCancelled() }
        let write = DispatchSource.makeWriteSource(fileDescriptor: descriptor.rawValue, queue: queue)
        write.setEventHandler { [self] in flush() }
        write.setCancelHandler { [self] in sourceCancelled() }
        readSource = read
        writeSource = write
        pendingCancels = 2
        read.resume()
        if !output.isEmpty { flush() }
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
        if let closeReason {
            descriptors.forEach { $0.close() }
            if !oneway {
                let late = LateReply(reply: reply)
                queue.async { late.reply(.failure(.closed(closeReason))) }
            }
            return
        }
        if !oneway { awaitingReply.append(OutgoingCall(more: more, reply: reply)) }
        send(VarlinkCallMessage(method: method, parameters: parameters, more: more, oneway: oneway).encoded(), passing: descriptors)
    }

    /// Closes the connection at once: unsent output is dropped, pending outgoing calls complete
    /// with `.closed(.closedLocally)`, then `onClose` runs.
    public func close() {
        dispatchPrecondition(condition: .onQueue(queue))
        close(because: .closedLocally)
    }

    // MARK: input

    private func readAvailable() {
        guard state == .open else { return }
        var ended = false
        var budget = VarlinkLimits.readChunkSize * 4  // per wake-up, so a busy peer cannot starve the queue
        while budget > 0 {
            let received: ReceivedMessage
            do {
                received = try descriptor.receive(
                    maximumBytes: VarlinkLimits.readChunkSize, maximumDescriptors: limits.maximumDescriptorsPerMessage)
            } catch {
                if error.isWouldBlock { break }
                if error.errno == Syscall.ECONNRESET {
                    ended = true
                    break
                }
                close(because: error.errno == Syscall.EMSGSIZE ? .tooManyDescriptors : .system(error))
                return
            }
            if received.bytes.isEmpty {
                ended = true
                break
            }
            do {
                try input.append(received)
            } catch {
                close(because: .protocolError("descriptors arrived with no message start"))
                return
            }
            budget -= received.bytes.count
            // A short read drained the socket (or stopped at descriptors; the level-triggered
            // source fires again for what follows).
            if received.bytes.count < VarlinkLimits.readChunkSize { break }
        }
        processInput()
        if ended { close(because: .peerClosed) }
    }

    /// Handles every complete message received: replies at once, calls into the queue.
    private func processInput() {
        while state == .open {
            let frame: VarlinkPeerFrame?
            do {
                frame = try input.nextFrame(maximumSize: limits.maximumMessageSize)
            } catch {
                close(because: .tooLarge)
                return
            }
            guard let frame else { break }
            received(frame)
        }
        if state == .open { input.compact() }
    }

    private func received(_ frame: VarlinkPeerFrame) {
        let value: JSONValue
        do {
            value = try JSONValue.parseMessage(frame.bytes, maximumDepth: limits.maximumDepth)
        } catch {
            frame.descriptors.forEach { $0.close() }
            close(because: .protocolError(error.description))
            return
        }
        if value["method"] != nil {
            do {
                enqueue(try VarlinkCallMessage.decode(value), descriptors: frame.descriptors, size: frame.bytes.count + 1)
            } catch {
                frame.descriptors.forEach { $0.close() }
                close(because: .protocolError(error.description))
            }
        } else {
            do {
                deliver(try VarlinkReplyMessage.decode(value), descriptors: frame.descriptors)
            } catch {
                frame.descriptors.forEach { $0.close() }
                close(because: .protocolError(error.description))
            }
        }
    }

    /// Hands a reply to the oldest outgoing call still waiting.
    private func deliver(_ reply: VarlinkReplyMessage, descriptors: [Descriptor]) {
        guard let head = awaitingReply.first else {
            descriptors.forEach { $0.close() }
            close(because: .protocolError("a reply to no call"))
            return
        }
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
        while state == .open, current == nil, !queuedCalls.isEmpty {
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
        guard closeReason == nil else {
            descriptors.forEach { $0.close() }
            return
        }
        if output.queuedBytes > 0, output.queuedBytes + frame.count > limits.maximumQueuedOutput {
            descriptors.forEach { $0.close() }
            close(because: .outputOverflow)
            return
        }
        output.append(frame, passing: descriptors)
        if state == .open { flush() }
    }

    private func flush() {
        guard state == .open else { return }
        let drained: Bool
        do {
            drained = try output.write(to: descriptor)
        } catch {
            close(because: error.errno == Syscall.EPIPE || error.errno == Syscall.ECONNRESET ? .peerClosed : .system(error))
            return
        }
        if drained != writeSourceSuspended {
            writeSourceSuspended = drained
            if drained { writeSource?.suspend() } else { writeSource?.resume() }
        }
    }

    // MARK: teardown

    private func close(because reason: VarlinkPeerCloseReason) {
        guard closeReason == nil else { return }
        closeReason = reason
        let wasStarted = state == .open
        state = .closed
        input.discard()
        output.discard()
        for call in queuedCalls { call.descriptors.forEach { $0.close() } }
        queuedCalls = []
        current?.cancel()
        current = nil
        if wasStarted {
            if writeSourceSuspended {
                writeSourceSuspended = false
                writeSource?.resume()  // a suspended source must be resumed to be cancelled
            }
            readSource?.cancel()
            writeSource?.cancel()
        } else {
            descriptor.close()
        }
        let waiting = awaitingReply
        awaitingReply = []
        for call in waiting { call.reply(.failure(.closed(reason))) }
        let handler = onClose
        // Dropping the handlers breaks the cycles they usually form through captures of the peer.
        onClose = nil
        onCall = nil
        handler?(reason)
    }

    private func sourceCancelled() {
        pendingCancels -= 1
        if pendingCancels == 0 {
            descriptor.close()
            readSource = nil
            writeSource = nil
        }
    }
}

/// A reply handler carried to a later turn of the peer's queue, where it runs as it would have.
private struct LateReply: @unchecked Sendable {  // created and run on the peer's queue only
    let reply: (Result<VarlinkPeerReply, VarlinkPeerCallError>) -> Void
}
