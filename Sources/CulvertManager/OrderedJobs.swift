// OrderedJobs: jobs on the manager queue that run one at a time, in the order they were asked
// for, each able to send work off the queue and finish when it comes back. culvertd has two:
//
// - `installs` (ManagerService): installs, uninstalls and gc of the extension store. An install's
//   verifying, hashing and copying runs on `culvertd.install`, a thread at a lower CPU priority
//   (`OrderedJobs.installWorker`), and its registration, event and reply come back to the
//   manager queue. So two installs of one identifier never race: the second is decided against
//   the registry the first left. Uninstall and gc wait for a staging install to finish, so they
//   never remove the staging directory or the unregistered store copy it is making.
// - `registryWrites`: every change to registry.json (ManagerService.commitRegistry), decided on
//   the manager queue against the registry as last written, written and fsynced on
//   `culvertd.registry`, and only then taken as the registry and acknowledged.
//
// An idle instance runs a job at once, in the caller's turn.

import CulvertSystem
import Dispatch

/// Where off-queue work runs: a dispatch queue or a `WorkerThread`.
protocol OffQueueExecutor: Sendable {
    func execute(_ job: @escaping @Sendable () -> Void)
}

extension DispatchQueue: OffQueueExecutor {
    func execute(_ job: @escaping @Sendable () -> Void) { async(execute: job) }
}

extension WorkerThread: OffQueueExecutor {
    func execute(_ job: @escaping @Sendable () -> Void) { async(job) }
}

final class OrderedJobs: @unchecked Sendable {  // confined to `queue`; only `work` runs elsewhere
    typealias Job = (_ done: @escaping () -> Void) -> Void

    /// Where installs stage: one thread for the process, at `ThreadPriority.bulkNiceness` and in
    /// the idle I/O class, so that hashing and copying a bundle yields the CPU and the disk to
    /// everything else on a small machine.
    static let installWorker = WorkerThread(name: "culvertd.install", niceness: ThreadPriority.bulkNiceness, idleIO: true)
    /// Where registry.json is written: short, but fsync waits for the disk.
    static let registryWorker = DispatchQueue(label: "culvertd.registry", qos: .userInitiated)

    let queue: DispatchQueue
    private let work: any OffQueueExecutor
    private var waiting: [Job] = []
    private var busy = false

    init(queue: DispatchQueue, work: any OffQueueExecutor) {
        self.queue = queue
        self.work = work
    }

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

    /// Runs `body` on this instance's worker and hands its result to `then` on the manager queue.
    /// `inline` runs both in the caller's turn (the spool at start, before clients are served).
    func offQueue<T: Sendable>(inline: Bool = false, _ body: @escaping @Sendable () -> T, then: @escaping (T) -> Void) {
        OffQueue.run(on: work, returningTo: queue, inline: inline, body, then: then)
    }
}
