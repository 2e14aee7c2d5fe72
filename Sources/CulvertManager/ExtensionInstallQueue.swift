// ExtensionInstallQueue: keeps work proportional to a bundle's size off the manager queue, and
// keeps the extension store's changes in one order.
//
// Jobs (an install, an uninstall, a gc) run one at a time, in the order they were asked for, each
// on the manager queue; an install's verifying, hashing and copying runs on the `culvertd.install`
// queue meanwhile (`offQueue`), and its registry commit, event and reply come back to the manager
// queue. So two installs of one identifier never race: the second is decided against the registry
// the first left. Uninstall and gc wait for a staging install to finish, so they never remove the
// staging directory or the unregistered store copy it is making. An idle queue runs a job at once,
// in the caller's turn.

import Dispatch

final class ExtensionInstallQueue: @unchecked Sendable {  // confined to `queue`; only `work` runs elsewhere
    typealias Job = (_ done: @escaping () -> Void) -> Void

    let queue: DispatchQueue
    /// Where staging runs: one at a time, at utility priority, so it cannot crowd the manager queue's core.
    private let work = DispatchQueue(label: "culvertd.install", qos: .utility)
    private var waiting: [Job] = []
    private var busy = false

    init(queue: DispatchQueue) { self.queue = queue }

    /// Whether a job is running or waiting (a re-exec waits for none to be).
    var isIdle: Bool { !busy && waiting.isEmpty }

    /// Runs `job` on the manager queue once every job before it has called its `done`.
    func enqueue(_ job: @escaping Job) {
        dispatchPrecondition(condition: .onQueue(queue))
        waiting.append(job)
        runNext()
    }

    private func runNext() {
        guard !busy, !waiting.isEmpty else { return }
        busy = true
        let job = waiting.removeFirst()
        var finished = false
        job { [self] in
            dispatchPrecondition(condition: .onQueue(queue))
            guard !finished else { return }
            finished = true
            busy = false
            // Not inline: the job that finished may still be on the stack.
            queue.async { [self] in runNext() }
        }
    }

    /// Runs `body` on the install queue and hands its result to `then` on the manager queue.
    /// `inline` runs both in the caller's turn (the spool at start, before clients are served).
    func offQueue<T: Sendable>(inline: Bool = false, _ body: @escaping @Sendable () -> T, then: @escaping (T) -> Void) {
        OffQueue.run(on: work, returningTo: queue, inline: inline, body, then: then)
    }
}
