// WatchStream: the event stream as an AsyncSequence that survives daemon restarts.

import CulvertSystem

/// The events of `culvertd`, followed across disconnections.
///
/// Guarantees:
/// - **Never ends by itself on a transient failure.** A lost connection yields `.interrupted`
///   once, then the stream reconnects with exponential backoff (`WatchPolicy`) and yields
///   `.resumed` when it is following again.
/// - **Exactly once, in order.** It tracks the (epoch, seq) of the last event it delivered and
///   resumes `Watch` from there. An event that is not the next one (a gap, a duplicate, another
///   epoch) is never delivered: the stream reconnects from its position instead. After a daemon
///   restart (new epoch) it delivers `.resumed(.snapshot(.otherEpoch))` and the snapshot.
/// - **Ends only** after `.invalidated` (a condition retrying cannot fix), or when the consumer
///   goes away: cancelling the iterating task, calling `cancel()`, or releasing the stream and its
///   iterator closes the connection and stops the I/O thread promptly.
///
/// One task iterates at a time.
public struct WatchStream: AsyncSequence, Sendable {
    public typealias Element = WatchUpdate
    public typealias Failure = Never

    private let buffer: WatchBuffer
    private let lifetime: Lifetime

    init(path: String, callDeadline: Duration, start: WatchPosition, policy: WatchPolicy) {
        let gate = ConnectionGate()
        let buffer = WatchBuffer(capacity: policy.maximumBufferedUpdates, gate: gate)
        self.buffer = buffer
        lifetime = Lifetime(buffer: buffer)
        let worker = WatchWorker(
            path: path, callDeadline: callDeadline, position: start, policy: policy, buffer: buffer, gate: gate)
        SystemThread.start(name: "culvert-watch") { worker.run() }
    }

    /// Stops the stream: the connection closes and iteration ends with nil.
    public func cancel() { buffer.cancel() }

    public func makeAsyncIterator() -> Iterator { Iterator(buffer: buffer, lifetime: lifetime) }

    public struct Iterator: AsyncIteratorProtocol {
        let buffer: WatchBuffer
        let lifetime: Lifetime

        public mutating func next() async -> WatchUpdate? { await buffer.next() }
    }

    /// Cancels the stream when the last copy of the stream and of its iterators is gone, so an
    /// abandoned stream never keeps a thread and a connection alive.
    final class Lifetime: Sendable {
        let buffer: WatchBuffer
        init(buffer: WatchBuffer) { self.buffer = buffer }
        deinit { buffer.cancel() }
    }
}
