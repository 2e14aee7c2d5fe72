// OffQueue: work proportional to a client's input (checking, encoding, hashing, copying) runs on a
// utility queue and its result comes back to the manager queue, so a Ping waits for none of it.

import CulvertSystem
import Dispatch

enum OffQueue {
    /// Inputs smaller than this are handled in the caller's turn: a hop costs more than the work.
    static let inlineBelow = 64 << 10
    /// Where provider messages are checked and encoded: one at a time, so they share one core, at
    /// `ThreadPriority.bulkNiceness`, so they yield the CPU to the manager queue.
    static let messages = WorkerThread(name: "culvertd.messages", niceness: ThreadPriority.bulkNiceness)

    /// Runs `body` on `work` and hands its result to `then` on `queue`; `inline` runs both now.
    static func run<T: Sendable>(
        on work: any OffQueueExecutor, returningTo queue: DispatchQueue, inline: Bool = false, _ body: @escaping @Sendable () -> T,
        then: @escaping (T) -> Void
    ) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !inline else { return then(body()) }
        let completion = ManagerQueueBound(then)
        work.execute {
            let result = body()
            queue.async { completion.value(result) }
        }
    }
}

/// A value that is only ever touched on the manager queue, carried through another queue untouched.
struct ManagerQueueBound<Value>: @unchecked Sendable {  // created and used on the manager queue only; others only carry it
    let value: Value
    init(_ value: Value) { self.value = value }
}
