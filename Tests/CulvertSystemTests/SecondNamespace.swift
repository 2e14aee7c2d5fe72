// SecondNamespace: a second private network namespace for tests that need two (a veth pair between
// them): a thread that unshared and runs the jobs it is given there, so sockets opened by a job
// belong to that namespace. The namespace goes away when `close()` ends the thread and the last
// socket opened in it is closed; the host's namespace is never touched.

import CulvertSystem
import Foundation

/// How long the namespace's thread waits for its next job before it ends by itself.
private let idleLimit: DispatchTimeInterval = .seconds(120)
/// How long one job may take.
private let jobLimit: DispatchTimeInterval = .seconds(30)

final class SecondNamespace: @unchecked Sendable {  // `job`/`failure` behind `lock`; path/threadID set before `started`
    /// The namespace file, for `PrivateNamespace(path:)` (valid while the thread lives).
    private(set) var path = ""
    /// The thread's id: `ip link set DEV netns ID` moves a link into the namespace.
    private(set) var threadID: Int32 = 0
    private let lock = NSLock()
    private var job: (@Sendable () -> Void)?
    private var failure: String?
    private let started = DispatchSemaphore(value: 0)
    private let jobReady = DispatchSemaphore(value: 0)
    private let jobDone = DispatchSemaphore(value: 0)

    init() throws {
        let thread = Thread { [self] in
            // unshare(CLONE_NEWNET) affects this thread only; it is never reused.
            do { try NetworkNamespace.enterNewNamespaceOnCurrentThread() } catch {
                lock.withLock { failure = "\(error)" }
                started.signal()
                return
            }
            path = NetworkNamespace.currentThreadNamespacePath
            threadID = NetworkNamespace.currentThreadID
            started.signal()
            while jobReady.wait(timeout: .now() + idleLimit) == .success {  // bounded: ends when idle or closed
                guard let next = lock.withLock({ job }) else { return }
                next()
                jobDone.signal()
            }
        }
        thread.start()
        guard started.wait(timeout: .now() + .seconds(10)) == .success, !path.isEmpty else {
            throw KernelTestFailure(description: "second namespace: \(lock.withLock { failure } ?? "did not start")")
        }
    }

    /// Runs `body` on the namespace's thread and returns its result.
    func perform<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let box = ResultBox<T>()
        lock.withLock { job = { box.set(Result { try body() }) } }
        jobReady.signal()
        guard jobDone.wait(timeout: .now() + jobLimit) == .success else {
            throw KernelTestFailure(description: "second namespace: job did not finish")
        }
        // Force unwrap: the job stores its result before it signals `jobDone`.
        return try box.get()!.get()
    }

    /// Ends the thread (the namespace lives on only while sockets opened in it stay open).
    func close() {
        lock.withLock { job = nil }
        jobReady.signal()
    }
}

/// A result handed from the namespace's thread to the caller.
private final class ResultBox<T>: @unchecked Sendable {  // written before `jobDone` is signalled, read after
    private var result: Result<T, any Error>?
    func set(_ value: Result<T, any Error>) { result = value }
    func get() -> Result<T, any Error>? { result }
}
