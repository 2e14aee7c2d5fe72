// WorkerThread: one dedicated thread running jobs in order, for work that must run at a lower
// CPU priority than the manager queue. A dispatch queue cannot do this: its jobs run on pooled
// threads that later serve the manager queue too, and a nice value, once raised, cannot be
// lowered again without CAP_SYS_NICE. This thread keeps its priority for life, so each is made
// once per process (culvertd's `OrderedJobs.installWorker`, `OffQueue.messages`,
// `VarlinkFrameDecoding.work`) and never exits.

public final class WorkerThread: @unchecked Sendable {  // `jobs` is only touched with `condition` locked
    private let condition = ThreadCondition()
    private var jobs: [@Sendable () -> Void] = []

    /// Starts the thread; `niceness` (and with `idleIO`, the idle I/O class) is applied by the
    /// thread to itself before its first job.
    public init(name: String, niceness: Int32, idleIO: Bool = false) {
        SystemThread.start(name: name) { [self] in
            // try?: a thread that keeps nice 0 or its I/O class still does its work correctly, only less politely.
            try? ThreadPriority.setCurrentThreadNiceness(niceness)
            if idleIO { try? ThreadPriority.setCurrentThreadIOIdle() }
            while true { next()() }
        }
    }

    /// Runs `job` on the thread after every job given before it.
    public func async(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func next() -> @Sendable () -> Void {
        condition.lock()
        defer { condition.unlock() }
        while jobs.isEmpty { condition.wait() }
        return jobs.removeFirst()
    }
}
