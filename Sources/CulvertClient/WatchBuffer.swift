// WatchBuffer: the bounded hand-off from a watch's I/O thread to its async consumer.

import CulvertSystem
import FoundationEssentials

/// A single-producer, single-consumer queue with back-pressure.
///
/// The producer (the watch thread) blocks in `push` while the buffer is full, so it stops reading
/// the socket and a consumer that falls behind makes the *daemon* drop the subscription instead of
/// this process growing without bound. `finish()` lets the consumer drain what is buffered, then
/// ends; `cancel()` ends at once, discards the rest, and interrupts the producer's I/O.
final class WatchBuffer: @unchecked Sendable {  // every mutable member is guarded by `condition`
    private let condition = ThreadCondition()
    private let capacity: Int
    private let gate: ConnectionGate
    private var queue: [WatchUpdate] = []
    private var head = 0
    private var waiter: CheckedContinuation<WatchUpdate?, Never>?
    private var finished = false
    private var cancelled = false

    init(capacity: Int, gate: ConnectionGate) {
        self.capacity = capacity
        self.gate = gate
    }

    private var count: Int { queue.count - head }

    /// Hands `update` to the consumer, waiting for room. Returns false if the consumer is gone.
    func push(_ update: WatchUpdate) -> Bool {
        condition.lock()
        while !cancelled && waiter == nil && count >= capacity { condition.wait() }
        guard !cancelled else {
            condition.unlock()
            return false
        }
        if let waiter {
            self.waiter = nil
            condition.unlock()
            waiter.resume(returning: update)
            return true
        }
        if head > 0 && head == queue.count {
            queue.removeAll(keepingCapacity: true)
            head = 0
        }
        queue.append(update)
        condition.unlock()
        return true
    }

    /// The producer is done: the consumer gets what is buffered, then nil.
    func finish() {
        condition.lock()
        finished = true
        let waiter = self.waiter
        self.waiter = nil
        condition.unlock()
        waiter?.resume(returning: nil)
    }

    /// The consumer is gone: drop everything, wake and interrupt the producer. Idempotent.
    func cancel() {
        condition.lock()
        cancelled = true
        queue.removeAll()
        head = 0
        let waiter = self.waiter
        self.waiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.resume(returning: nil)
        gate.cancel()
    }

    /// The next update, or nil at the end. One consumer at a time.
    func next() async -> WatchUpdate? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<WatchUpdate?, Never>) in
                condition.lock()
                precondition(waiter == nil, "a WatchStream was iterated by two tasks at once")
                if count > 0 {
                    let update = queue[head]
                    head += 1
                    condition.broadcast()  // room for a blocked producer
                    condition.unlock()
                    continuation.resume(returning: update)
                } else if cancelled || finished {
                    condition.unlock()
                    continuation.resume(returning: nil)
                } else {
                    waiter = continuation
                    condition.broadcast()  // a producer waiting for room may hand over directly
                    condition.unlock()
                }
            }
        } onCancel: {
            cancel()
        }
    }
}
