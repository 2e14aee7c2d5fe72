// ProcessImage: replacing the running program in place (execve) and the anonymous file that carries
// state across it (memfd) — how culvertd re-execs itself keeping its descriptors (contract 10).

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

public enum ProcessImage {
    /// What the kernel appends to `/proc/PID/exe` once the file a process runs was unlinked or
    /// replaced (dpkg installs a new binary by renaming it over the old one).
    static let deletedSuffix = " (deleted)"

    /// The path to re-execute for "the same program" given the running process's `/proc/self/exe`
    /// target: after a package upgrade replaced the file it reads "PATH (deleted)", and PATH — the
    /// new file — is what the upgrade wants run. A name that only looks like that (a file really
    /// called "x (deleted)" that exists) is kept as it is.
    public static func reexecutablePath(fromExecutableLink link: String) -> String {
        guard link.hasSuffix(deletedSuffix), !FileSystem.exists(link) else { return link }
        return String(link.dropLast(deletedSuffix.count))
    }

    /// An anonymous in-memory file holding `bytes`, positioned at its start, close-on-exec (clear
    /// that on the descriptor that must survive the exec). The corresponding C function is `memfd_create`.
    public static func memoryFile(named name: String, containing bytes: [UInt8]) throws(SystemError) -> Descriptor {
        let fd = Descriptor(rawValue: try Syscall.call("memfd_create") { culvert_memfd_create(name) })
        do {
            try fd.writeAll(bytes)
            _ = try Syscall.call("lseek") { Int32(truncatingIfNeeded: lseek(fd.rawValue, 0, SEEK_SET)) }
        } catch {
            fd.close()
            throw error
        }
        return fd
    }

    /// Reads `descriptor` from its current position to the end, at most `limit` bytes.
    public static func readAll(_ descriptor: Descriptor, limit: Int) throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count <= limit {
            let n = try descriptor.read(appendingTo: &bytes, maximum: 65536)
            if n == 0 { return bytes }
        }
        throw SystemError(call: "read (state larger than \(limit) bytes)", errno: Syscall.EMSGSIZE)
    }

    /// Replaces this process with `path`, with `arguments` (argv[0] included) and exactly
    /// `environment`. Descriptors without close-on-exec survive. Returns only by throwing.
    /// The corresponding C function is `execve`.
    public static func replace(with path: String, arguments: [String], environment: [String: String]) throws(SystemError) -> Never {
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        _ = culvert_execve(path, argv, envp)
        let code = Syscall.currentErrno
        argv.forEach { free($0) }
        envp.forEach { free($0) }
        throw SystemError(call: "execve", errno: code, path: path)
    }

    /// Marks this process non-dumpable: no core dumps, and only root may ptrace it or read its
    /// /proc/PID/{mem,environ,fd,...} (which become root-owned). Providers call it before reading secrets.
    /// The corresponding C function is `prctl(PR_SET_DUMPABLE, 0)`.
    public static func markNonDumpable() throws(SystemError) {
        _ = try Syscall.call("prctl(PR_SET_DUMPABLE)") { culvert_set_dumpable(0) }
    }

    /// Whether this process is dumpable (`prctl(PR_GET_DUMPABLE)`).
    public static var isDumpable: Bool {
        // try?: PR_GET_DUMPABLE cannot fail; if it did, claiming "dumpable" is the safe answer.
        ((try? Syscall.call("prctl(PR_GET_DUMPABLE)") { culvert_get_dumpable() }) ?? 1) != 0
    }
}
