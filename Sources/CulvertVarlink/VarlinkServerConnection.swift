// VarlinkServerConnection: one client connection — framing, one call at a time, bounded output.

import CulvertSystem
import Dispatch

/// One accepted connection. Confined to the server queue.
///
/// Calls are processed strictly one at a time, in order: the next message is not even parsed
/// until the current call's final reply (that is what lets a `more` call own the connection).
/// Output is queued without bound only up to `maximumQueuedOutput`; past that the client is a
/// slow subscriber and is dropped with a typed error, so it can never slow anyone else.
final class VarlinkServerConnection: @unchecked Sendable {  // confined to server.queue; Dispatch handlers hop onto it
    enum State { case open, closing, closed }

    let id: UInt64
    let descriptor: Descriptor
    let peer: PeerCredentials
    // unowned: the server outlives every connection (it closes them all in stop()).
    private unowned let server: VarlinkServer
    private let queue: DispatchQueue
    private var readSource: (any DispatchSourceRead)?
    private var writeSource: (any DispatchSourceWrite)?
    private var writeSourceSuspended = true
    private var pendingCancels = 0
    private(set) var state = State.open

    private var input: [UInt8] = []
    private var inputScanned = 0
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var current: VarlinkReplier?
    /// The method of `current` (fully qualified), so a re-exec knows which open call it carries.
    private var currentMethod: String?
    /// Set when the descriptor is handed to the next process image: cancelling the sources must not close it.
    private var keepDescriptorOpen = false
    private var readEnded = false
    private var readPaused = false
    /// Set once this connection buffered a large message; its close then trims the heap.
    private(set) var sawLargeInput = false
    static let largeInputThreshold = 1 << 20

    var isOpen: Bool { state == .open }
    var queuedOutput: Int { output.count - outputOffset }

    init(id: UInt64, descriptor: Descriptor, peer: PeerCredentials, server: VarlinkServer, queue: DispatchQueue) {
        self.id = id
        self.descriptor = descriptor
        self.peer = peer
        self.server = server
        self.queue = queue
    }

    func start() {
        let read = DispatchSource.makeReadSource(fileDescriptor: descriptor.rawValue, queue: queue)
        read.setEventHandler { [self] in self.readAvailable() }
        read.setCancelHandler { [self] in self.sourceCancelled() }
        let write = DispatchSource.makeWriteSource(fileDescriptor: descriptor.rawValue, queue: queue)
        write.setEventHandler { [self] in self.flush() }
        write.setCancelHandler { [self] in self.sourceCancelled() }
        readSource = read
        writeSource = write
        pendingCancels = 2
        read.resume()
    }

    // MARK: input

    private func readAvailable() {
        guard state == .open, !readEnded else { return }
        if current != nil, input.count >= server.limits.maximumMessageSize {
            // A call is in progress and a full message is already buffered behind it: stop
            // reading until the call ends, so a pipelining client cannot grow our buffer.
            pauseReading()
            return
        }
        var budget = VarlinkLimits.readChunkSize * 4  // per wake-up, so one busy client can't starve others
        while budget > 0 {
            let n: Int
            do {
                n = try descriptor.read(appendingTo: &input, maximum: VarlinkLimits.readChunkSize)
            } catch {
                if error.isWouldBlock { break }
                close()
                return
            }
            if n == 0 {
                readEnded = true
                pauseReading()  // a closed peer keeps the source firing; we know enough
                break
            }
            budget -= n
            if input.count > Self.largeInputThreshold { sawLargeInput = true }
            // A short read drained the socket; skip the read that would only say EAGAIN (the
            // level-triggered source fires again if more arrives).
            if n < VarlinkLimits.readChunkSize { break }
            if input.count > server.limits.maximumMessageSize + VarlinkLimits.readChunkSize { break }
        }
        processInput()
        if readEnded { endOfInput() }
    }

    /// Parses and dispatches complete messages while no call is in progress.
    private func processInput() {
        while state == .open, current == nil {
            guard let nul = input[inputScanned...].firstIndex(of: 0) else {
                inputScanned = input.count
                if input.count > server.limits.maximumMessageSize {
                    failAndClose(VarlinkError.invalidMessage(reason: "message_too_large"))
                }
                return
            }
            let message = input[0..<nul]
            let tooLarge = message.count + 1 > server.limits.maximumMessageSize
            let decoded: Result<VarlinkCallMessage, VarlinkError>
            if tooLarge {
                decoded = .failure(VarlinkError.invalidMessage(reason: "message_too_large"))
            } else {
                do throws(VarlinkError) {
                    decoded = .success(try VarlinkCallMessage.decode(message, maximumDepth: server.limits.maximumDepth))
                } catch {
                    decoded = .failure(error)
                }
            }
            input.removeSubrange(0...nul)
            inputScanned = 0
            switch decoded {
            case .failure(let error):
                failAndClose(error)
                return
            case .success(let call):
                dispatch(call)
            }
        }
    }

    private func dispatch(_ message: VarlinkCallMessage) {
        let replier = VarlinkReplier(connection: self, queue: queue, wantsMore: message.more, oneway: message.oneway)
        if !message.oneway {
            current = replier
            currentMethod = message.method
        }
        server.route(VarlinkCall(message: message, peer: peer, connectionID: id), replier: replier)
    }

    /// The peer closed its sending side: finish what is complete, then go.
    private func endOfInput() {
        guard state == .open else { return }
        if current != nil {
            // An open call (e.g. Watch) whose client left: nobody will read the rest.
            close()
        } else if queuedOutput == 0 {
            close()
        } else {
            state = .closing
        }
    }

    // MARK: output

    private func pauseReading() {
        guard !readPaused else { return }
        readPaused = true
        readSource?.suspend()
    }

    /// Called by the replier after the final reply of the current call.
    func callFinished() {
        current = nil
        currentMethod = nil
        guard state == .open else { return }
        if readPaused, !readEnded {
            readPaused = false
            readSource?.resume()
        }
        if readEnded {
            endOfInput()
        } else if !input.isEmpty {
            // Not inline: the handler that replied is still on the stack.
            queue.async { [weak self] in self?.processInput() }
        }
    }

    func send(frame: [UInt8]) {
        guard state == .open else { return }
        // One frame always fits an empty queue (a large reply is not a slow reader); frames are
        // bounded by the message size limit anyway.
        if queuedOutput > 0, queuedOutput + frame.count > server.limits.maximumQueuedOutput {
            overflow()
            return
        }
        output.append(contentsOf: frame)
        flush()
    }

    private func flush() {
        while queuedOutput > 0 {
            let n: Int
            do {
                n = try descriptor.send(output, from: outputOffset)
            } catch {
                if error.isWouldBlock {
                    if writeSourceSuspended {
                        writeSourceSuspended = false
                        writeSource?.resume()
                    }
                    return
                }
                close()
                return
            }
            outputOffset += n
        }
        output.removeAll(keepingCapacity: output.capacity <= VarlinkLimits.readChunkSize * 4)
        outputOffset = 0
        if !writeSourceSuspended {
            writeSourceSuspended = true
            writeSource?.suspend()
        }
        if state == .closing { close() }
    }

    /// The client stopped reading: drop what it has not been sent (it resumes by seq anyway),
    /// keep the frame partly sent so framing stays intact, tell it why, and close.
    private func overflow() {
        let error = server.overflowError(queuedOutput)
        if let endOfPartialFrame = output[outputOffset...].firstIndex(of: 0) {
            output.removeSubrange((endOfPartialFrame + 1)...)
        }
        output.append(contentsOf: VarlinkReplyMessage.frame(error: error))
        state = .closing
        current?.cancel()
        current = nil
        server.connectionOverflowed(self)
        flush()
        guard state != .closed else { return }
        queue.asyncAfter(deadline: .now() + .milliseconds(Int(VarlinkLimits.overflowGrace.components.seconds * 1000))) {
            [weak self] in self?.close()
        }
    }

    /// Sends `error` and closes once it is written (or at once if the peer is gone).
    private func failAndClose(_ error: VarlinkError) {
        output.append(contentsOf: VarlinkReplyMessage.frame(error: error))
        state = .closing
        flush()
    }

    // MARK: re-exec

    /// Whether the connection is idle or only watching — the states a re-exec can carry.
    var isCarriable: Bool { current == nil || (currentMethod?.hasSuffix(".Watch") == true && current?.wantsMore == true) }

    /// Sends everything queued (blocking, until `deadline`), then lets go of the connection
    /// without closing its descriptor, and describes it for the next process image.
    func detachForExec(deadline: ContinuousClock.Instant) -> VarlinkConnectionHandover? {
        guard state == .open else { return nil }
        let clock = ContinuousClock()
        while queuedOutput > 0 {
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else { return nil }
            do {
                outputOffset += try descriptor.send(output, from: outputOffset)
            } catch {
                guard error.isWouldBlock else { return nil }
                let milliseconds = Int32(clamping: remaining.components.seconds * 1000 + 1)
                // try?: a peer that cannot be written to is not carried.
                guard (try? descriptor.waitWritable(timeoutMilliseconds: milliseconds)) == true else { return nil }
            }
        }
        let handover = VarlinkConnectionHandover(
            descriptor: descriptor.rawValue, pid: peer.pid, uid: peer.uid, gid: peer.gid, groups: peer.groups,
            input: Array(input), watching: current != nil)
        keepDescriptorOpen = true
        current = nil  // not cancelled: the call goes on in the next image
        currentMethod = nil
        close()
        return handover
    }

    /// Resumes a connection carried across a re-exec: its unread input, and its open Watch call.
    func resume(input carried: [UInt8], watching: Bool) -> VarlinkReplier? {
        input = carried
        inputScanned = 0
        var replier: VarlinkReplier?
        if watching {
            let watch = VarlinkReplier(connection: self, queue: queue, wantsMore: true, oneway: false)
            current = watch
            currentMethod = "io.culvert.Manager.Watch"
            replier = watch
        }
        start()
        if current == nil, !input.isEmpty { queue.async { [weak self] in self?.processInput() } }
        return replier
    }

    // MARK: teardown

    func close() {
        guard state != .closed else { return }
        state = .closed
        current?.cancel()
        current = nil
        input = []
        output = []
        outputOffset = 0
        if let readSource {
            if readPaused { readSource.resume() }  // a suspended source must be resumed to be cancelled
            readSource.cancel()
        }
        if let writeSource {
            if writeSourceSuspended {
                writeSourceSuspended = false
                writeSource.resume()
            }
            writeSource.cancel()
        }
        server.connectionClosed(self)
    }

    private func sourceCancelled() {
        pendingCancels -= 1
        if pendingCancels == 0 {
            if !keepDescriptorOpen { descriptor.close() }
            readSource = nil
            writeSource = nil
        }
    }
}
