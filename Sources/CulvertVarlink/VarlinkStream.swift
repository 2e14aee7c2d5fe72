// VarlinkStream: the connection core under VarlinkServerConnection and VarlinkPeer — one connected
// AF_UNIX stream socket carrying NUL-terminated messages. It owns the descriptor, the Dispatch read
// and write sources, the input buffer (cut into frames, bounded by the message size) and the output
// queue (bounded in bytes, drained by the write source while the socket says EAGAIN), and it closes
// exactly once, with a reason. What the messages mean is its owner's business: the owner takes
// frames when it is ready for them, and decides what an output overflow or the end of input means.
//
// Descriptor passing is a choice of transport: `.bytes` reads with read(2) and sends with send(2);
// `.bytesAndDescriptors` reads with recvmsg(2) and sends each frame that carries descriptors in its
// own sendmsg(2) (VarlinkPeer.swift states the rules; VarlinkStreamInput and VarlinkStreamOutput
// implement them).
//
//   idle ──start──▶ open ──closeAfterSending──▶ closing ──output drained──▶ closed
//     │               └──────── close, socket error, detach ──────────────▶ closed
//     └──────────────────────── close ────────────────────────────────────▶ closed

import CulvertSystem
import Dispatch

/// A stream of varlink frames on one socket. Confined to `queue`; the callbacks run there.
///
/// While started the stream keeps itself (through its sources) and its callbacks' captures alive;
/// closing drops the callbacks, which breaks the cycles they usually form with the owner.
final class VarlinkStream: @unchecked Sendable {  // confined to `queue`; Dispatch handlers hop onto it
    /// How bytes cross the socket.
    enum Transport: Equatable {
        /// Plain reads and sends; descriptors the other end attaches are discarded by the kernel.
        case bytes
        /// recvmsg and sendmsg with SCM_RIGHTS. More than `maximumPerRead` descriptors in one read
        /// closes the stream (`tooManyDescriptors`).
        case bytesAndDescriptors(maximumPerRead: Int)
    }

    enum State { case idle, open, closing, closed }

    /// Input buffered past which `sawLargeInput` is set (its owner may then trim the heap on close).
    static let largeInputThreshold = 1 << 20
    /// Bytes read per wake-up, so one busy socket cannot starve the others on the queue.
    static let readBudget = VarlinkLimits.readChunkSize * 4

    let descriptor: Descriptor
    let queue: DispatchQueue
    let transport: Transport
    /// Largest frame accepted, NUL included.
    let maximumMessageSize: Int
    /// Bytes that may wait for the other end to read; one frame always fits an empty queue.
    let maximumQueuedOutput: Int

    /// Runs after each wake-up that read bytes (or the end of input); the owner takes what it is
    /// ready for with `nextFrame`. Bytes it leaves stay buffered.
    var onInput: (() -> Void)?
    /// Runs once, after `onInput`, when the other end has finished sending. Reading has stopped.
    var onEndOfInput: (() -> Void)?
    /// Runs once when the stream closes, whatever closed it.
    var onClose: ((VarlinkCloseReason) -> Void)?
    /// Runs, while open, after input was read and handled and after output was sent: the
    /// owner's chance to account `bufferedInput + queuedOutput` against a budget.
    var onBuffersChanged: (() -> Void)?

    private(set) var state = State.idle
    /// Set by the first close; the stream is closed from then on.
    private(set) var closeReason: VarlinkCloseReason?
    /// The other end has finished sending (end of file or reset).
    private(set) var inputEnded = false
    /// Set once more than `largeInputThreshold` bytes waited in the input buffer.
    private(set) var sawLargeInput = false

    private var input: VarlinkStreamInput
    private var output = VarlinkStreamOutput()
    private var readSource: (any DispatchSourceRead)?
    private var writeSource: (any DispatchSourceWrite)?
    private var readPaused = false
    private var writeSourceSuspended = true
    private var pendingCancels = 0
    /// Why the stream closes once its output drains (state `closing`).
    private var closingReason = VarlinkCloseReason.closedLocally
    /// Set when the descriptor is handed to another process image: cancelling the sources must not close it.
    private var keepDescriptorOpen = false

    /// Prepares a stream on `descriptor`, a connected AF_UNIX stream socket it takes ownership of.
    init(descriptor: Descriptor, transport: Transport, maximumMessageSize: Int, maximumQueuedOutput: Int, queue: DispatchQueue) {
        self.descriptor = descriptor
        self.transport = transport
        self.maximumMessageSize = maximumMessageSize
        self.maximumQueuedOutput = maximumQueuedOutput
        self.queue = queue
        input = VarlinkStreamInput(largeMessageCapacity: maximumMessageSize + VarlinkLimits.readChunkSize)
    }

    var isOpen: Bool { state == .open }
    /// Bytes queued and not yet taken by the socket.
    var queuedOutput: Int { output.queuedBytes }
    /// Bytes received and not yet taken as frames.
    var bufferedInput: Int { input.bufferedBytes }
    /// Stream offset where the message still missing its NUL begins, or nil if there is none.
    var partialMessageStart: Int? { input.partialMessageStart }

    /// Makes the socket non-blocking and starts reading and sending (frames queued before are sent
    /// now). Call once; a failure closes the stream with `.system`.
    func start() {
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
        if queuedOutput > 0 { flush() }
    }

    // MARK: input

    /// Fills the input buffer, before `start`, with bytes another process image received and did
    /// not process.
    func restoreInput(_ carried: [UInt8]) {
        guard state == .idle else { return }
        input.restore(carried)
    }

    /// Takes the next complete frame, or nil if none is complete. Throws `.tooLarge` for a frame
    /// longer than `maximumMessageSize` (or bound to be, once complete); the owner decides how to close.
    func nextFrame() throws(VarlinkCloseReason) -> VarlinkFrame? {
        let frame: VarlinkFrame?
        do throws(VarlinkStreamInput.Failure) {
            frame = try input.nextFrame(maximumSize: maximumMessageSize)
        } catch {
            throw .tooLarge
        }
        if frame == nil { input.compact() }
        return frame
    }

    /// Stops reading until `resumeReading`, so a peer that pipelines cannot grow the buffer.
    func pauseReading() {
        guard !readPaused else { return }
        readPaused = true
        readSource?.suspend()
    }

    /// Reads again after `pauseReading` (not after the end of input).
    func resumeReading() {
        guard readPaused, !inputEnded, state == .open else { return }
        readPaused = false
        readSource?.resume()
    }

    private func readAvailable() {
        guard state == .open, !inputEnded else { return }
        var ended = false
        var budget = Self.readBudget
        do throws(VarlinkCloseReason) {
            while budget > 0 {
                guard let count = try readOnce() else { break }
                if count == 0 {
                    ended = true
                    break
                }
                budget -= count
                if input.bufferedBytes > Self.largeInputThreshold { sawLargeInput = true }
                // A short read drained the socket (or stopped at descriptors); skip the read that
                // would only say EAGAIN: the level-triggered source fires again if more arrives.
                if count < VarlinkLimits.readChunkSize { break }
                if input.bufferedBytes > maximumMessageSize + VarlinkLimits.readChunkSize { break }
            }
        } catch {
            close(because: error)
            return
        }
        if ended {
            inputEnded = true
            pauseReading()  // a closed peer keeps the source firing; we know enough
        }
        onInput?()
        if state != .closed { input.compact() }
        if ended, state == .open { onEndOfInput?() }
        if state == .open { onBuffersChanged?() }
    }

    /// One read into the input buffer: the byte count (0 at end of input), or nil if the socket
    /// has nothing now.
    private func readOnce() throws(VarlinkCloseReason) -> Int? {
        switch transport {
        case .bytes:
            do {
                return try input.read(from: descriptor, maximum: VarlinkLimits.readChunkSize)
            } catch {
                return try Self.readFailed(error)
            }
        case .bytesAndDescriptors(let maximumPerRead):
            let received: ReceivedMessage
            do {
                received = try descriptor.receive(maximumBytes: VarlinkLimits.readChunkSize, maximumDescriptors: maximumPerRead)
            } catch {
                return try Self.readFailed(error)
            }
            do throws(VarlinkStreamInput.Failure) {
                try input.append(received)
            } catch {
                throw .protocolError("descriptors arrived with no message start")
            }
            return received.bytes.count
        }
    }

    /// What a failed read means: nil for "nothing now", 0 for the end of input, or why to close.
    private static func readFailed(_ error: SystemError) throws(VarlinkCloseReason) -> Int? {
        if error.isWouldBlock { return nil }
        if error.errno == Syscall.ECONNRESET { return 0 }
        throw error.errno == Syscall.EMSGSIZE ? .tooManyDescriptors : .system(error)
    }

    // MARK: output

    /// Queues `frame` with `descriptors` (the stream takes them and closes them once sent) and
    /// sends what the socket takes. Returns false, queuing nothing and closing the descriptors,
    /// when the frame would take a non-empty queue past `maximumQueuedOutput`: the other end is
    /// not reading, and what that means is the owner's call. A closing or closed stream drops it.
    func send(_ frame: [UInt8], passing descriptors: [Descriptor] = []) -> Bool {
        guard state == .idle || state == .open else {
            descriptors.forEach { $0.close() }
            return true
        }
        if output.queuedBytes > 0, output.queuedBytes + frame.count > maximumQueuedOutput {
            descriptors.forEach { $0.close() }
            return false
        }
        output.append(frame, passing: descriptors)
        if state == .open { flush() }
        return true
    }

    /// Stops reading and taking frames, queues `frame` past the bound (it is the last), and closes
    /// with `reason` once everything queued is sent — at once if nothing is. `droppingUnsent` first
    /// discards the frames not yet begun; the one partly sent stays, so framing holds. Does nothing
    /// once the stream is closing or closed; a stream never started just closes.
    func closeAfterSending(_ frame: [UInt8]? = nil, droppingUnsent: Bool = false, because reason: VarlinkCloseReason) {
        switch state {
        case .open: break
        case .idle:
            close(because: reason)  // nothing was ever sent, so nothing is owed
            return
        case .closing, .closed: return  // already on its way out, for an earlier reason
        }
        state = .closing
        closingReason = reason
        pauseReading()
        input.discard()  // nothing more is taken from it: free it now, not when the output drains
        if droppingUnsent { output.dropUnsentFrames() }
        if let frame { output.append(frame, passing: []) }
        flush()
    }

    private func flush() {
        guard state == .open || state == .closing else { return }
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
        if drained, state == .closing { close(because: closingReason) }
        if state == .open { onBuffersChanged?() }
    }

    // MARK: handing over

    /// Sends everything queued, blocking the queue while the socket is full, until `deadline`.
    /// Returns false if the other end did not take it all in time or the socket failed; the
    /// stream is left as it was (its owner closes it).
    func flushBlocking(until deadline: ContinuousClock.Instant) -> Bool {
        guard state == .open else { return false }
        let clock = ContinuousClock()
        while true {
            do {
                if try output.write(to: descriptor) { return true }
            } catch {
                return false
            }
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else { return false }
            let milliseconds = Int32(clamping: remaining.components.seconds * 1000 + 1)
            // try?: a socket that cannot be waited on is as stuck as one that stays full.
            guard (try? descriptor.waitWritable(timeoutMilliseconds: milliseconds)) == true else { return false }
        }
    }

    /// Lets go of the socket without closing it (for another process image to take) and returns
    /// the input not yet taken as frames. The stream closes with `.closedLocally`.
    func detach() -> [UInt8] {
        let unprocessed = input.unprocessedBytes
        keepDescriptorOpen = true
        close(because: .closedLocally)
        return unprocessed
    }

    // MARK: teardown

    /// Closes at once: unsent output and unread input are dropped (with their descriptors), the
    /// sources are cancelled (the descriptor closes when both are), then `onClose` runs. Only the
    /// first call does anything.
    func close(because reason: VarlinkCloseReason) {
        guard closeReason == nil else { return }
        closeReason = reason
        state = .closed
        input.discard()
        output.discard()
        if let readSource, let writeSource {
            // A suspended source must be resumed to be cancelled.
            if readPaused { readSource.resume() }
            if writeSourceSuspended { writeSource.resume() }
            readPaused = false
            writeSourceSuspended = false
            readSource.cancel()
            writeSource.cancel()
        } else if !keepDescriptorOpen {
            descriptor.close()
        }
        let handler = onClose
        onInput = nil
        onEndOfInput = nil
        onClose = nil
        onBuffersChanged = nil
        handler?(reason)
    }

    private func sourceCancelled() {
        pendingCancels -= 1
        guard pendingCancels == 0 else { return }
        if !keepDescriptorOpen { descriptor.close() }
        readSource = nil
        writeSource = nil
    }
}
