// SystemThread: starts a detached, named POSIX thread running a Swift closure, and sleeps the
// calling thread. Hand-written because Foundation's `Thread` lives in full Foundation, which
// statically links ~34 MB of ICU data into every executable; FoundationEssentials has no thread
// type, and Culvert needs nothing more than "run this body on a thread of its own".

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

public enum SystemThread {
    /// Linux truncates thread names to 15 bytes plus the terminating NUL (pthread_setname_np).
    public static let maximumNameBytes = 15

    /// Starts a detached thread named `name` (cut to `maximumNameBytes`) that runs `body` once
    /// and exits. The thread gets the default stack size (RLIMIT_STACK, as Foundation's did);
    /// only its touched pages count toward the process's memory.
    /// The corresponding C calls are `pthread_create` and `prctl(PR_SET_NAME)`.
    public static func spawn(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let context = Unmanaged.passRetained(ThreadStart(name: name, body: body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        // pthread_create returns the error number instead of setting errno.
        let result = pthread_create(
            &thread, &attributes,
            { raw in
                // !: pthread_create passes back the non-nil context given to it below.
                let start = Unmanaged<ThreadStart>.fromOpaque(raw!).takeRetainedValue()
                start.run()
                return nil
            }, context)
        guard result == 0 else {
            Unmanaged<ThreadStart>.fromOpaque(context).release()
            throw SystemError(call: "pthread_create", errno: result)
        }
    }

    /// `spawn` for callers that cannot go on without the thread (as Foundation's `Thread.start`
    /// could not fail): traps if the system refuses to create it (EAGAIN: out of threads or memory).
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        do throws(SystemError) {
            try spawn(name: name, body)
        } catch {
            preconditionFailure("cannot start thread \(name): \(error)")
        }
    }

    /// Blocks the calling thread for `interval` seconds (whole interval: an interrupted sleep
    /// resumes with the time left). The corresponding C call is `nanosleep`.
    public static func sleep(forTimeInterval interval: Double) {
        guard interval > 0 else { return }
        let whole = interval.rounded(.down)
        var request = timespec(tv_sec: Int(whole), tv_nsec: Int((interval - whole) * 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
    }
}

/// What a new thread runs: its name is set by the thread itself, first.
private final class ThreadStart: Sendable {
    let name: String
    let body: @Sendable () -> Void

    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }

    func run() {
        let bytes = Array(name.utf8.prefix(SystemThread.maximumNameBytes))
        // try?: an unnamed thread works the same; the name is only for ps, top and crash reports.
        _ = try? Syscall.call("prctl(PR_SET_NAME)") { String(decoding: bytes, as: UTF8.self).withCString { culvert_set_thread_name($0) } }
        body()
    }
}
