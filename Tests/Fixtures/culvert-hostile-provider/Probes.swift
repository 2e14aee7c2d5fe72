// Probes: the attacks on a neighbour session — its /proc, ptrace, signals, pidfd_getfd,
// process_vm_readv, its rendezvous socket — and on the host: namespaces, raw/packet/netlink
// sockets, mount, bpf, keyctl. Every attempt is one ATTACK line. What a successful attack got is
// put back (a stopped victim continued, a tracee detached, a moved socket moved back) so the
// victim's tunnel keeps working and the test reports the attack rather than its aftermath.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

struct Probes {
    let options: [String: String]

    func run() {
        guard let victim = findVictim() else {
            Report.note("no victim process found: no probe was made")
            return  // no ATTACKS DONE: the test fails
        }
        Report.note("victim pid \(victim)")
        procfs(victim)
        tracing(victim)
        signals(victim)
        descriptors(victim)
        rendezvous()
        Namespaces.run()
        Namespaces.sockets()
        Namespaces.privileged()
    }

    /// The victim's pid: the option, else another process whose comm is the provider's.
    private func findVictim() -> pid_t? {
        if let text = options["victimPid"], let pid = pid_t(text), FileManager.default.fileExists(atPath: "/proc/\(pid)") { return pid }
        // try?: an unreadable /proc is no victim.
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        let own = (try? String(contentsOfFile: "/proc/self/comm", encoding: .utf8)) ?? ""  // try?: as above
        for entry in entries {
            guard let pid = pid_t(entry), pid != getpid() else { continue }
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""  // try?: gone meanwhile
            if comm == own || comm.hasPrefix("culvert-test-pro") { return pid }
        }
        return nil
    }

    private func procfs(_ pid: pid_t) {
        Report.attack("proc-environ", readFile("/proc/\(pid)/environ", count: 65536)) { bytes in
            let text = String(decoding: bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return "\(bytes.count) bytes" + (text.contains("CULVERT_RENDEZVOUS=") ? " incl. CULVERT_RENDEZVOUS" : "")
        }
        let maps = readFile("/proc/\(pid)/maps", count: 1 << 20)
        Report.attack("proc-maps", maps) { "\($0.count) bytes" }
        let address = (try? maps.get()).flatMap(Self.firstReadableAddress)  // try?: no maps, no address
        let mem = RawSyscall.libc { open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC) }
        switch mem {
        case .failure(let error): Report.blocked("proc-mem", "open \(error)")
        case .success(let fd):
            defer { close(fd) }
            guard let address else {
                Report.succeeded("proc-mem", "opened (no address to read: maps unreadable)")
                return
            }
            var buffer = [UInt8](repeating: 0, count: 64)
            let read = RawSyscall.libc {
                buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 64, off_t(Int64(bitPattern: UInt64(address)))) }
            }
            Report.attack("proc-mem", read) { "read \($0) bytes at 0x\(String(address, radix: 16))" }
        }
        Report.attack("proc-fd-list", listDirectory("/proc/\(pid)/fd")) { "fds \($0.sorted().joined(separator: ","))" }
        for fd in [3, 4] {
            Report.attack("proc-fd-open-\(fd)", RawSyscall.libc { open("/proc/\(pid)/fd/\(fd)", O_RDWR | O_CLOEXEC) }) { opened in
                close(opened)
                return "opened as fd \(opened)"
            }
        }
    }

    private func tracing(_ pid: pid_t) {
        let attach = RawSyscall.call(Kernel.ptrace, Kernel.ptraceAttach, Int(pid))
        if case .success = attach {
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0x4000_0000)  // __WALL: wait for the attach stop
            _ = RawSyscall.call(Kernel.ptrace, Kernel.ptraceDetach, Int(pid))
        }
        Report.attack("ptrace-attach", attach) { _ in "attached (and detached)" }
        let seize = RawSyscall.call(Kernel.ptrace, Kernel.ptraceSeize, Int(pid))
        if case .success = seize {
            var status: Int32 = 0
            _ = RawSyscall.call(Kernel.ptrace, Kernel.ptraceInterrupt, Int(pid))
            _ = waitpid(pid, &status, 0x4000_0000)  // __WALL
            _ = RawSyscall.call(Kernel.ptrace, Kernel.ptraceDetach, Int(pid))
        }
        Report.attack("ptrace-seize", seize) { _ in "seized (and detached)" }
        var local = [UInt8](repeating: 0, count: 64)
        let address = (try? readFile("/proc/\(pid)/maps", count: 1 << 20).get()).flatMap(Self.firstReadableAddress)  // try?: guessed below
        let remote = address ?? UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(bitPattern: 0x5555_5555_4000)))
        let read = local.withUnsafeMutableBytes { buffer in
            var localVector = iovec(iov_base: buffer.baseAddress, iov_len: 64)
            var remoteVector = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: remote), iov_len: 64)
            return withUnsafePointer(to: &localVector) { l in
                withUnsafePointer(to: &remoteVector) { r in
                    RawSyscall.call(Kernel.processVMReadv, Int(pid), Int(bitPattern: l), 1, Int(bitPattern: r), 1, 0)
                }
            }
        }
        Report.attack("process-vm-readv", read) { "read \($0) bytes at 0x\(String(remote, radix: 16))" }
    }

    private func signals(_ pid: pid_t) {
        Report.attack("kill-0", RawSyscall.libc { kill(pid, 0) }) { _ in "the victim can be signalled" }
        let stop = RawSyscall.libc { kill(pid, SIGSTOP) }
        if case .success = stop { kill(pid, SIGCONT) }
        Report.attack("kill-sigstop", stop) { _ in "stopped (and continued)" }
    }

    private func descriptors(_ pid: pid_t) {
        let pidfd = RawSyscall.call(Kernel.pidfdOpen, Int(pid), 0)
        Report.attack("pidfd-open", pidfd) { "pidfd \($0)" }
        guard case .success(let handle) = pidfd else {
            Report.blocked("pidfd-getfd-3", "no pidfd")
            Report.blocked("pidfd-getfd-4", "no pidfd")
            return
        }
        defer { close(Int32(handle)) }
        for fd in [3, 4] {
            let taken = RawSyscall.call(Kernel.pidfdGetfd, handle, fd, 0)
            Report.attack("pidfd-getfd-\(fd)", taken) { copy in
                defer { close(Int32(copy)) }
                // try?: for display only.
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(copy)")) ?? "?"
                return "took fd \(fd) as \(copy): \(target)"
            }
        }
    }

    /// Replacing a neighbour's rendezvous socket: the path given, and every other session's
    /// directory found next to ours.
    private func rendezvous() {
        var targets: [String] = []
        if let given = options["victimRendezvous"], !given.isEmpty { targets.append(given) }
        if let own = ProcessInfo.processInfo.environment["CULVERT_RENDEZVOUS"] {
            let ownDirectory = (own as NSString).deletingLastPathComponent
            let sessions = (ownDirectory as NSString).deletingLastPathComponent
            switch listDirectory(sessions) {
            case .success(let entries):
                Report.note("sessions directory \(sessions): \(entries.count) entries")
                for entry in entries.sorted() where !entry.hasSuffix(".json") && sessions + "/" + entry != ownDirectory {
                    let path = sessions + "/" + entry + "/rendezvous.sock"
                    if !targets.contains(path) { targets.append(path) }
                }
            case .failure(let error): Report.note("sessions directory \(sessions) unlistable: \(error)")
            }
        }
        if targets.isEmpty { Report.note("no rendezvous socket to attack") }
        for (index, path) in targets.enumerated() {
            let moved = path + ".hostile"
            let rename = RawSyscall.libc { Glibc.rename(path, moved) }
            if case .success = rename { _ = Glibc.rename(moved, path) }
            Report.attack("rendezvous-rename-\(index)", rename) { _ in "renamed \(path) (and back)" }
            Report.attack("rendezvous-unlink-\(index)", RawSyscall.libc { unlink(path) }) { _ in "unlinked \(path)" }
            Report.attack("rendezvous-bind-\(index)", bindUnixSocket(path)) { _ in "bound a socket at \(path)" }
        }
    }

    private func bindUnixSocket(_ path: String) -> Result<Int32, Errno> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(Errno(code: errno)) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8.prefix(107))
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let result = RawSyscall.libc {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
        if case .success = result {
            _ = listen(fd, 1)
        }  // kept open: the socket now answers at the victim's path
        else {
            close(fd)
        }
        return result.map { _ in fd }
    }

    private func readFile(_ path: String, count: Int) -> Result<[UInt8], Errno> {
        RawSyscall.libc { open(path, O_RDONLY | O_CLOEXEC) }.flatMap { fd in
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: count)
            return RawSyscall.libc { buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) } }.map { Array(buffer.prefix($0)) }
        }
    }

    private func listDirectory(_ path: String) -> Result<[String], Errno> {
        guard let directory = opendir(path) else { return .failure(Errno(code: errno)) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return .success(names)
    }

    /// The start of the first readable mapping in /proc/PID/maps text.
    static func firstReadableAddress(_ maps: [UInt8]) -> UInt? {
        for line in String(decoding: maps, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 1, fields[1].hasPrefix("r"), let start = fields[0].split(separator: "-").first else { continue }
            if let address = UInt(start, radix: 16) { return address }
        }
        return nil
    }
}
