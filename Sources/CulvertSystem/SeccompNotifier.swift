// SeccompNotifier: culvertd's side of a provider's seccomp listener. Every call the provider filter
// does not allow arrives here as a user notification; it is answered with EPERM (never allowed to
// continue) and counted, with the names of the last few distinct denied syscalls for status.
// Hand-written on raw SECCOMP_IOCTL_NOTIF_* (CCulvertContainment.h); names come from libseccomp.
//
// Without a listener (culvertd gone, or the notifier cancelled) the kernel fails notified calls with
// ENOSYS instead: still denied, only the errno differs and nothing counts them.

import CCulvert
import CSeccomp
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Denials seen so far.
public struct SeccompDenials: Sendable, Hashable {
    /// Every denied call (saturating).
    public var count: UInt64
    /// The most recent distinct syscall names, oldest first, at most `SeccompNotifier.recentNamesLimit`.
    public var recentNames: [String]

    public init(count: UInt64 = 0, recentNames: [String] = []) {
        self.count = count
        self.recentNames = recentNames
    }

    /// Counts one denial of `name`, keeping the names bounded.
    mutating func record(_ name: String, limit: Int) {
        if count < UInt64.max { count += 1 }
        recentNames.removeAll { $0 == name }
        recentNames.append(name)
        if recentNames.count > limit { recentNames.removeFirst(recentNames.count - limit) }
    }
}

/// Answers one listener's notifications on a queue. `cancel()` stops it and closes its descriptor.
// @unchecked: `source` (a DispatchSource, not marked Sendable) is only cancelled after init, which is thread-safe; `state` is behind a Mutex.
public final class SeccompNotifier: @unchecked Sendable {
    /// Most distinct names kept in `denials.recentNames`.
    public static let recentNamesLimit = 16
    /// Most notifications handled per wake-up of the queue before it yields to other work.
    public static let notificationsPerWakeUp = 64

    private let listener: Descriptor
    private let source: any DispatchSourceRead
    private let state = Mutex(SeccompDenials())

    /// Starts answering `listener` on `queue`. The notifier works on its own duplicate of `listener`
    /// (closed by `cancel()`), so the caller still closes its own (e.g. with `SpawnedProcess.close()`).
    /// `carrying`: what an earlier notifier of the same listener counted (a re-exec carries it on).
    public init(listener: Descriptor, queue: DispatchQueue, carrying denials: SeccompDenials = SeccompDenials()) throws(SystemError) {
        state.withLock { $0 = denials }
        let own = try listener.duplicate()
        self.listener = own
        source = DispatchSource.makeReadSource(fileDescriptor: own.rawValue, queue: queue)
        source.setEventHandler { [weak self] in self?.drain() }
        source.setCancelHandler { own.close() }
        source.activate()
    }

    /// The denials so far; safe from any thread.
    public var denials: SeccompDenials { state.withLock { $0 } }

    /// Stops answering and closes the listener: the provider's notified calls fail with ENOSYS from now on.
    public func cancel() { source.cancel() }

    /// Answers what is pending (at most `notificationsPerWakeUp`). A filtered process waits for each
    /// answer, so a provider spinning on denied calls is paced by this queue and costs no memory.
    private func drain() {
        for _ in 0..<Self.notificationsPerWakeUp {
            // try?: a failed poll is treated as "nothing pending"; the next wake-up tries again.
            let pending = (try? Syscall.call("poll") { culvert_seccomp_notify_pending(listener.rawValue) }) ?? 0
            if pending == 2 { source.cancel() }  // every filtered process has exited: nothing more can come
            guard pending == 1 else { return }
            var id: UInt64 = 0
            var number: Int32 = 0
            var arch: UInt32 = 0
            do {
                _ = try Syscall.call("ioctl(SECCOMP_IOCTL_NOTIF_RECV)") {
                    culvert_seccomp_notify_receive(listener.rawValue, &id, &number, &arch)
                }
            } catch {
                continue  // ENOENT: the caller was killed before we took it
            }
            let name = Self.name(of: number, arch: arch)
            state.withLock { $0.record(name, limit: Self.recentNamesLimit) }
            // try?: ENOENT means the caller was killed while waiting; nothing is left to answer.
            _ = try? Syscall.call("ioctl(SECCOMP_IOCTL_NOTIF_SEND)") {
                culvert_seccomp_notify_deny(listener.rawValue, id, SeccompPolicy.deniedErrno)
            }
        }
    }

    /// The syscall's name on `arch` (an AUDIT_ARCH_* value, which is libseccomp's token), e.g. "ptrace".
    static func name(of number: Int32, arch: UInt32) -> String {
        guard let cName = seccomp_syscall_resolve_num_arch(arch, number) else { return "syscall \(number)" }
        defer { free(cName) }
        return String(cString: cName)
    }
}
