// ThreadPriority: the scheduling weight of one thread. culvertd lowers it for threads whose work
// is proportional to a client's input (an install's hashing and copying), so that on a small
// machine the manager queue's thread wins the CPU whenever both are runnable.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

public enum ThreadPriority {
    /// The nice value of the threads that serve culvertd's manager queue (the control plane): a CFS
    /// weight ~3× a nice-0 thread's, so a root Ping is answered ahead of CPU-bound neighbours (a
    /// provider, a client sending megabytes). Needs CAP_SYS_NICE or RLIMIT_NICE ≥ 25 (the unit's
    /// `LimitNICE=-5`); without either, the slice below still applies. Children forked from such a
    /// thread start at nice 0 (SCHED_FLAG_RESET_ON_FORK), and providers reset it explicitly.
    public static let controlNiceness: Int32 = -5
    /// The EEVDF slice those threads ask for (Linux ≥ 6.12; the kernel's minimum): a woken thread
    /// with a shorter slice than the running one preempts it instead of waiting for the running
    /// thread's slice (0.75–3 ms) to end. Older kernels ignore it.
    public static let controlSlice: Duration = .microseconds(100)

    /// The nice value culvertd gives to bulk work: low enough that the CFS weight of a nice-0
    /// thread is ~10× its own, not so low that the work starves on a busy machine.
    public static let bulkNiceness: Int32 = 10

    /// Sets the calling thread's nice value (Linux applies `setpriority(PRIO_PROCESS, tid)` to
    /// that thread alone). Raising it needs no privilege; lowering it again needs CAP_SYS_NICE,
    /// so callers use it only on threads that keep it for their whole life.
    /// The corresponding C call is `setpriority(PRIO_PROCESS, gettid(), niceness)`.
    public static func setCurrentThreadNiceness(_ niceness: Int32) throws(SystemError) {
        let thread = id_t(bitPattern: NetworkNamespace.currentThreadID)
        _ = try Syscall.call("setpriority") { setpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread, niceness) }
    }

    /// The calling thread's nice value. The corresponding C call is `getpriority(PRIO_PROCESS, gettid())`.
    public static var currentThreadNiceness: Int32 {
        // getpriority returns -1 both as a value and as an error; a thread can always read its own.
        getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(bitPattern: NetworkNamespace.currentThreadID))
    }

    /// Gives the calling thread the control plane's scheduling (`controlNiceness`, `controlSlice`),
    /// once per thread: culvertd's manager queue runs on pooled threads, so each marks itself when it
    /// first serves a call (later calls cost a thread-local check). True if the nice value applied,
    /// false if only the slice did (no privilege); throws if neither did.
    /// The corresponding C call is `sched_setattr(0, {SCHED_OTHER, nice, sched_runtime}, 0)`.
    @discardableResult
    public static func enterControlPlane() throws(SystemError) -> Bool {
        let slice = UInt64(controlSlice.components.attoseconds / 1_000_000_000)
        return try Syscall.call("sched_setattr") { culvert_thread_enter_control_plane(controlNiceness, slice) } != 2
    }

    /// The calling thread's nice value and slice (nil: the kernel's default), from sched_getattr.
    public static func currentThreadScheduling() throws(SystemError) -> (niceness: Int32, slice: Duration?) {
        var nice: Int32 = 0
        var slice: UInt64 = 0
        _ = try Syscall.call("sched_getattr") { culvert_thread_scheduling(&nice, &slice) }
        return (nice, slice == 0 ? nil : .nanoseconds(Int64(slice)))
    }

    /// Puts the calling thread's disk I/O in the idle class: served only when no other I/O waits
    /// (by schedulers that honour priorities, such as mq-deadline and bfq). Per thread, for life.
    /// The corresponding C call is `ioprio_set(IOPRIO_WHO_PROCESS, gettid(), IOPRIO_CLASS_IDLE)`.
    public static func setCurrentThreadIOIdle() throws(SystemError) {
        _ = try Syscall.call("ioprio_set") { culvert_set_thread_io_idle() }
    }

    /// The calling thread's I/O priority class: 0 none set, 1 realtime, 2 best effort, 3 idle.
    /// The corresponding C call is `ioprio_get(IOPRIO_WHO_PROCESS, gettid())`.
    public static func currentThreadIOClass() throws(SystemError) -> Int32 {
        try Syscall.call("ioprio_get") { culvert_thread_io_class() }
    }
}
