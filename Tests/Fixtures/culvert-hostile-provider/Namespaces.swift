// Namespaces: what a provider could use to get out from under its restrictions or onto the host's
// network — new user/network/mount namespaces, raw, packet and netlink-route sockets, mount, bpf
// and keyctl. Namespace attempts run in a forked child (which only makes the call and `_exit`s
// with its errno), so a namespace that is granted never changes what the later probes see.

#if canImport(Glibc)
    import Glibc
#endif

enum Namespaces {
    static func run() {
        Report.attack("unshare-user", inChild { RawSyscall.call(Kernel.unshare, Kernel.cloneNewUser) }) { _ in "new user namespace" }
        Report.attack("unshare-net", inChild { RawSyscall.call(Kernel.unshare, Kernel.cloneNewNet) }) { _ in "new network namespace" }
        Report.attack("unshare-user-net", inChild { RawSyscall.call(Kernel.unshare, Kernel.cloneNewUser | Kernel.cloneNewNet) }) { _ in
            "new user+network namespace"
        }
        for (name, flags) in [("clone-newns", Kernel.cloneNewNS), ("clone-newuser", Kernel.cloneNewUser)] {
            // clone(flags|SIGCHLD) with no new stack behaves like fork; the grandchild exits at once.
            let cloned = inChild { () -> Result<Int, Errno> in
                switch RawSyscall.call(Kernel.clone, flags | Int(SIGCHLD), 0, 0, 0, 0) {
                case .success(0): _exit(0)
                case .success(let child):
                    var status: Int32 = 0
                    _ = waitpid(pid_t(child), &status, 0)
                    return .success(child)
                case .failure(let error): return .failure(error)
                }
            }
            Report.attack(name, cloned) { _ in "cloned into a new namespace" }
        }
    }

    static func sockets() {
        let attempts: [(String, Int32, Int32, Int32)] = [
            ("socket-packet", AF_PACKET, Int32(SOCK_RAW.rawValue), Int32(Kernel.ethPAll.bigEndian)),
            ("socket-raw-icmp", AF_INET, Int32(SOCK_RAW.rawValue), Kernel.ipprotoICMP),
            ("socket-netlink-route", AF_NETLINK, Int32(SOCK_RAW.rawValue), Kernel.netlinkRoute),
        ]
        for (name, family, type, proto) in attempts {
            Report.attack(name, RawSyscall.libc { socket(family, type | Int32(SOCK_CLOEXEC.rawValue), proto) }) { fd in
                close(fd)
                return "socket opened"
            }
        }
    }

    static func privileged() {
        Report.attack("mount", RawSyscall.call(Kernel.mount, cString("/tmp"), cString("/tmp"), 0, Kernel.msBind, 0)) { _ in "bind-mounted" }
        // BPF_MAP_CREATE of a 1-entry array map: union bpf_attr's first four u32 fields.
        var attributes = [UInt32](repeating: 0, count: 30)
        attributes[0] = Kernel.bpfMapTypeArray
        attributes[1] = 4
        attributes[2] = 4
        attributes[3] = 1
        let map = attributes.withUnsafeBytes { RawSyscall.call(Kernel.bpf, Kernel.bpfMapCreate, Int(bitPattern: $0.baseAddress), $0.count) }
        if case .success(let fd) = map { close(Int32(fd)) }
        Report.attack("bpf-map-create", map) { _ in "created a BPF map" }
        Report.attack("keyctl-join-session", RawSyscall.call(Kernel.keyctl, Kernel.keyctlJoinSessionKeyring, 0)) { "keyring \($0)" }
    }

    /// Runs `body` in a forked child and returns what it returned (its errno travels as the exit status).
    static func inChild(_ body: () -> Result<Int, Errno>) -> Result<Int, Errno> {
        let child = fork()
        if child == 0 {
            switch body() {
            case .success: _exit(0)
            case .failure(let error): _exit(min(error.code, 254))
            }
        }
        guard child > 0 else { return .failure(Errno(code: errno)) }
        var status: Int32 = 0
        while waitpid(child, &status, 0) == -1 && errno == EINTR {}
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited else { return .failure(Errno(code: EINTR)) }  // killed: reported, not a success
        return code == 0 ? .success(0) : .failure(Errno(code: code))
    }

    /// A C string that lives for the program's lifetime (for raw calls' path arguments).
    static func cString(_ text: String) -> Int {
        Int(bitPattern: Abuse.pinned(text))
    }
}
