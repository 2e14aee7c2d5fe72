// DescriptorTable: operations on the calling thread's file descriptor table.

import CCulvert

/// The calling thread's descriptor table.
public enum DescriptorTable {
    /// Gives the calling thread, and only it, a private copy of the process's descriptor table: from
    /// then on it can put descriptors on fixed numbers (as `dup2` onto 3 and 4) without touching the
    /// numbers other threads use, and a child forked from it inherits this copy. The copy goes away
    /// with the thread. The corresponding C function is `unshare(CLONE_FILES)`.
    public static func unshareOnCurrentThread() throws(SystemError) {
        _ = try Syscall.call("unshare(CLONE_FILES)") { culvert_unshare_descriptor_table() }
    }
}

#if canImport(Glibc)
    import Glibc
#endif

extension DescriptorTable {
    /// The open descriptor numbers below `limit`, ascending. Opens nothing itself (unlike listing
    /// /proc/self/fd), so the answer is exactly what the process holds. The corresponding C call is
    /// `fcntl(fd, F_GETFD)`.
    public static func openDescriptors(below limit: Int32 = 1024) -> [Int32] {
        (0..<max(0, limit)).filter { fcntl($0, F_GETFD) != -1 }
    }
}
