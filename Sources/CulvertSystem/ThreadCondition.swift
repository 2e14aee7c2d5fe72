// ThreadCondition: a mutex and a condition variable for threads that block (NSCondition's job).
// Hand-written on pthreads because NSCondition is in full Foundation (which statically links
// ~34 MB of ICU data) and Synchronization.Mutex has no condition variable. Timed waits use
// CLOCK_MONOTONIC, so a change of the wall clock neither shortens nor stretches them.

#if canImport(Glibc)
    import Glibc
#endif

public final class ThreadCondition: @unchecked Sendable {  // the pthread objects are made for sharing between threads
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    /// A point on CLOCK_MONOTONIC to wait until.
    public struct Deadline: Sendable {
        fileprivate let time: timespec

        /// The longest wait a deadline stands for (~136 years): beyond it, a wait is unbounded in practice.
        public static let maximumSeconds: Int64 = 1 << 32

        /// `duration` from now; a negative duration is now.
        public static func after(_ duration: Duration) -> Deadline {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let (seconds, attoseconds) = duration.components
            guard seconds >= 0, attoseconds >= 0 else { return Deadline(time: now) }
            let nanoseconds = now.tv_nsec + Int(attoseconds / 1_000_000_000)
            let whole = now.tv_sec + Int(min(seconds, maximumSeconds)) + nanoseconds / 1_000_000_000
            return Deadline(time: timespec(tv_sec: whole, tv_nsec: nanoseconds % 1_000_000_000))
        }
    }

    public init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    /// Runs `body` with the lock held.
    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Waits for a signal (the lock held on entry and on return; wake-ups may be spurious).
    public func wait() { pthread_cond_wait(condition, mutex) }

    /// As `wait()`, but returns false once `deadline` has passed.
    public func wait(until deadline: Deadline) -> Bool {
        var time = deadline.time
        return pthread_cond_timedwait(condition, mutex, &time) != ETIMEDOUT
    }

    public func signal() { pthread_cond_signal(condition) }
    public func broadcast() { pthread_cond_broadcast(condition) }
}
