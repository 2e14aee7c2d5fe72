// NetworkNamespace: moving one thread into a private network namespace, so tests (and later the
// test provider's peer) configure a kernel network stack that is not the host's.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

/// Operations on the calling thread's network namespace.
public enum NetworkNamespace {
    /// Moves the calling thread, and only it, into a new network namespace holding just a down
    /// loopback. Sockets and TUN devices it creates from then on live there. The namespace goes away
    /// when the thread has ended and the last descriptor referring to it is closed.
    /// The corresponding C function is `unshare(CLONE_NEWNET)`.
    public static func enterNewNamespaceOnCurrentThread() throws(SystemError) {
        _ = try Syscall.call("unshare(CLONE_NEWNET)") { culvert_unshare_network_namespace() }
    }

    /// The calling thread's kernel id, as in `/proc/<pid>/task/<tid>`. The corresponding C function is `gettid`.
    public static var currentThreadID: Int32 { culvert_thread_id() }

    /// The namespace file of the calling thread, e.g. for `nsenter --net=`.
    public static var currentThreadNamespacePath: String { "/proc/\(getpid())/task/\(currentThreadID)/ns/net" }

    /// Whether this process shares the network namespace of pid 1 (the host's, outside
    /// containers). Host-wide services such as systemd-resolved only manage links there.
    /// nil when it cannot be told (no /proc, or pid 1's namespace is not readable).
    public static var isSameAsInit: Bool? {
        // try?: unreadable links mean "cannot tell", reported as nil.
        guard let own = try? FileSystem.symbolicLinkTarget("/proc/self/ns/net"),
            let initial = try? FileSystem.symbolicLinkTarget("/proc/1/ns/net")
        else { return nil }
        return own == initial
    }
}
