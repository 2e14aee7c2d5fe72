// VarlinkServerConnection: one client connection — one call at a time, bounded output, on a VarlinkStream.

import CulvertSystem
import Dispatch

/// One accepted connection. Confined to the server queue.
///
/// Calls are processed strictly one at a time, in order: the next message is not even parsed
/// until the current call's final reply (that is what lets a `more` call own the connection).
/// Output is queued only up to `maximumQueuedOutput`; past that the client is a slow subscriber
/// and is dropped with a typed error, so it can never slow anyone else. The socket mechanics
/// (sources, framing, the output queue, closing once) are the stream's. Its class, decided at
/// accept, sets its budget: message size, output queue, idle deadline; what it holds is reported
/// to the server, which enforces the per-uid budget. One Dispatch timer on the queue serves both
/// deadlines (`VarlinkConnectionDeadlines`) and is cancelled at close.
final class VarlinkServerConnection: @unchecked Sendable {  // confined to server.queue; the stream's callbacks run there
    let id: UInt64
    let peer: PeerCredentials
    let connectionClass: VarlinkConnectionClass
    let budget: ConnectionBudget
    // unowned: the server outlives every connection (it closes them all in stop()).
    private unowned let server: VarlinkServer
    private let queue: DispatchQueue
    private let stream: VarlinkStream

    private var deadlines: VarlinkConnectionDeadlines
    private var timer: (any DispatchSourceTimer)?
    private var timerArmedFor: ContinuousClock.Instant?
    /// Bytes this connection last reported holding to the server.
    private(set) var reportedHeld = 0

    private var current: VarlinkReplier?
    /// Set while a large message is parsed off the queue; it is this connection's next call.
    private var decodingLargeFrame = false
    /// The method of `current` (fully qualified), so a re-exec knows which open call it carries.
    private var currentMethod: String?

    var isOpen: Bool { stream.isOpen }
    /// Set once this connection buffered a large message; its close then trims the heap.
    var sawLargeInput: Bool { stream.sawLargeInput }

    init(
        id: UInt64, descriptor: Descriptor, peer: PeerCredentials, connectionClass: VarlinkConnectionClass, server: VarlinkServer,
        queue: DispatchQueue
    ) {
        self.id = id
        self.peer = peer
        self.connectionClass = connectionClass
        self.server = server
        self.queue = queue
        budget = server.limits.budget(for: connectionClass)
        deadlines = VarlinkConnectionDeadlines(
            partialMessage: server.limits.partialMessageDeadline, idle: budget.idleDeadline, now: .now)
        stream = VarlinkStream(
            descriptor: descriptor, transport: .bytes, maximumMessageSize: budget.maximumMessageSize,
            maximumQueuedOutput: budget.maximumQueuedOutput, queue: queue)
    }

    func start() {
        stream.onInput = { [self] in
            processInput()
            // A call is in progress and a full message is already buffered behind it: stop
            // reading until the call ends, so a pipelining client cannot grow our buffer.
            if current != nil || decodingLargeFrame, stream.bufferedInput >= budget.maximumMessageSize { stream.pauseReading() }
            deadlines.input(partialMessageStart: stream.partialMessageStart, now: .now)
            rearmTimer()
        }
        stream.onEndOfInput = { [self] in endOfInput() }
        stream.onClose = { [self] _ in closed() }
        stream.onBuffersChanged = { [self] in reportHeld() }
        stream.start()
        rearmTimer()
    }

    // MARK: input

    /// Parses and dispatches complete messages while no call is in progress. A large message is
    /// parsed off the queue (VarlinkFrameDecoding) meanwhile the connection takes no other.
    private func processInput() {
        while stream.isOpen, current == nil, !decodingLargeFrame {
            let frame: VarlinkFrame?
            do {
                frame = try stream.nextFrame()
            } catch {
                failAndClose(VarlinkError.invalidMessage(reason: "message_too_large"), because: .tooLarge)
                return
            }
            guard let frame else { return }
            let depth = server.limits.maximumDepth
            guard frame.bytes.count >= VarlinkFrameDecoding.offQueueFrom else {
                received(VarlinkFrameDecoding.parse(frame.bytes, maximumDepth: depth))
                continue
            }
            decodingLargeFrame = true
            VarlinkFrameDecoding.parseOffQueue(frame.bytes, maximumDepth: depth, returningTo: queue) { [weak self] parsed in
                guard let self else { return }
                decodingLargeFrame = false
                guard stream.isOpen else { return }
                received(parsed)
                processInput()
                if stream.inputEnded, !decodingLargeFrame { endOfInput() }
            }
        }
    }

    private func received(_ parsed: Result<JSONValue, VarlinkError>) {
        let call: VarlinkCallMessage
        do throws(VarlinkError) {
            call = try VarlinkCallMessage.decode(parsed.get())
        } catch {
            failAndClose(error, because: .protocolError(error.name))
            return
        }
        dispatch(call)
    }

    private func dispatch(_ message: VarlinkCallMessage) {
        let replier = VarlinkReplier(connection: self, queue: queue, wantsMore: message.more, oneway: message.oneway)
        if !message.oneway {
            current = replier
            currentMethod = message.method
            deadlines.callStarted()
        }
        server.route(VarlinkCall(message: message, peer: peer, connectionID: id), replier: replier)
    }

    /// The peer closed its sending side: finish what is complete, then go.
    private func endOfInput() {
        guard stream.isOpen, !decodingLargeFrame else { return }  // the parse's completion comes back here
        if current != nil {
            // An open call (e.g. a subscription) whose client left: nobody will read the rest.
            close()
        } else {
            stream.closeAfterSending(because: .peerClosed)
        }
    }

    // MARK: output

    /// Called by the replier after the final reply of the current call.
    func callFinished() {
        current = nil
        currentMethod = nil
        guard stream.isOpen else { return }
        deadlines.callFinished(now: .now)
        rearmTimer()
        stream.resumeReading()
        if stream.inputEnded {
            endOfInput()
        } else if stream.bufferedInput > 0 {
            // Not inline: the handler that replied is still on the stack.
            queue.async { [weak self] in self?.processInput() }
        }
    }

    func send(frame: [UInt8]) {
        guard stream.isOpen else { return }
        // One frame always fits an empty queue (a large reply is not a slow reader); frames are
        // bounded by the message size limit anyway.
        if !stream.send(frame) { overflow() }
    }

    /// The client stopped reading: drop what it has not been sent (it resumes by seq anyway),
    /// keep the frame partly sent so framing stays intact, tell it why, and close.
    private func overflow() {
        let error = server.overflowError(stream.queuedOutput)
        server.connectionOverflowed(self)
        drop(error, because: .outputOverflow)
    }

    /// Ends the open call, drops what is unsent but the frame partly sent, sends `error` and
    /// closes once it is written — or after `overflowGrace` if the peer does not read it.
    private func drop(_ error: VarlinkError, because reason: VarlinkCloseReason) {
        current?.cancel()
        current = nil
        currentMethod = nil
        stream.closeAfterSending(VarlinkReplyMessage.frame(error: error), droppingUnsent: true, because: reason)
        closeAfterGrace(because: reason)
    }

    /// Sends `error` and closes once it is written (or at once if the peer is gone, or after
    /// `overflowGrace` if it does not read).
    private func failAndClose(_ error: VarlinkError, because reason: VarlinkCloseReason) {
        stream.closeAfterSending(VarlinkReplyMessage.frame(error: error), because: reason)
        closeAfterGrace(because: reason)
    }

    private func closeAfterGrace(because reason: VarlinkCloseReason) {
        reportHeld()
        guard stream.state != .closed else { return }
        queue.asyncAfter(deadline: .now() + .milliseconds(Int(VarlinkLimits.overflowGrace.components.seconds * 1000))) {
            [weak self] in self?.stream.close(because: reason)
        }
    }

    // MARK: budgets and deadlines

    /// Tells the server what this connection holds now; if that takes its uid (or its class)
    /// past a memory budget, the connection is dropped with a typed error.
    private func reportHeld() {
        guard stream.state != .closed else { return }  // the server let go of all it held at close
        let held = stream.bufferedInput + stream.queuedOutput
        guard held != reportedHeld else { return }
        let grew = held > reportedHeld
        let exceeded = server.account(self, from: reportedHeld, to: held)
        reportedHeld = held
        if grew, let exceeded, stream.isOpen { drop(.memoryBudgetExceeded(limit: exceeded), because: .overBudget) }
    }

    /// Points the one timer at the earliest deadline still to come (or nowhere).
    private func rearmTimer() {
        let next = stream.isOpen ? deadlines.next : nil
        guard next != timerArmedFor else { return }
        timerArmedFor = next
        guard let next else {
            timer?.schedule(deadline: .distantFuture)
            return
        }
        let timer = self.timer ?? makeTimer()
        let (seconds, attoseconds) = ContinuousClock.now.duration(to: next).components
        let nanoseconds = max(0, Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), leeway: .milliseconds(50))
    }

    private func makeTimer() -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.setEventHandler { [weak self] in self?.deadlineReached() }
        timer.schedule(deadline: .distantFuture)
        timer.resume()
        self.timer = timer
        return timer
    }

    private func deadlineReached() {
        timerArmedFor = nil
        guard stream.isOpen else { return }
        switch deadlines.expired(at: .now) {
        case .partialMessage?:
            drop(.partialMessageTimeout(seconds: Self.wholeSeconds(deadlines.partialMessageLimit)), because: .deadlineExpired)
        case .idle?:
            drop(.idleTimeout(seconds: Self.wholeSeconds(deadlines.idleLimit ?? .zero)), because: .deadlineExpired)
        case nil:
            rearmTimer()
        }
    }

    private static func wholeSeconds(_ duration: Duration) -> Int { Int(duration.components.seconds) }

    // MARK: re-exec

    /// Whether the connection is idle or in a `more` call its handler marked carriable — the
    /// states a re-exec can carry.
    var isCarriable: Bool {
        guard !decodingLargeFrame else { return false }  // its message is neither in the stream nor a call yet
        guard let current else { return true }
        return current.isCarriable && current.wantsMore
    }

    /// Sends everything queued (blocking, until `deadline`), then lets go of the connection
    /// without closing its descriptor, and describes it for the next process image.
    func detachForExec(deadline: ContinuousClock.Instant) -> VarlinkConnectionHandover? {
        guard stream.flushBlocking(until: deadline) else { return nil }
        let carriedMethod = current != nil ? currentMethod : nil
        current = nil  // not cancelled: the call goes on in the next image
        currentMethod = nil
        let input = stream.detach()
        return VarlinkConnectionHandover(
            descriptor: stream.descriptor.rawValue, pid: peer.pid, uid: peer.uid, gid: peer.gid, groups: peer.groups,
            input: input, carriedMethod: carriedMethod)
    }

    /// Resumes a connection carried across a re-exec: its unread input, and the open call it
    /// carried (`method`, fully qualified), whose replier is returned — already carriable.
    func resume(input carried: [UInt8], carrying method: String?) -> VarlinkReplier? {
        stream.restoreInput(carried)
        var replier: VarlinkReplier?
        if let method {
            let carriedCall = VarlinkReplier(connection: self, queue: queue, wantsMore: true, oneway: false)
            carriedCall.markCarriable()
            current = carriedCall
            currentMethod = method
            deadlines.callStarted()
            replier = carriedCall
        }
        start()
        if current == nil, stream.bufferedInput > 0 { queue.async { [weak self] in self?.processInput() } }
        return replier
    }

    // MARK: teardown

    func close() {
        stream.close(because: .closedLocally)
    }

    /// The stream closed, for whatever reason: end the open call and leave the server.
    private func closed() {
        timer?.cancel()
        timer = nil
        current?.cancel()
        current = nil
        currentMethod = nil
        server.connectionClosed(self)
        reportedHeld = 0
    }
}
