// SeccompProbe: the python3 program ProviderContainmentTests runs under the provider filter. It makes
// each call with ctypes' syscall() (x86_64 numbers) and prints "probe result", where result is the
// errno name, or "ok". Arguments are chosen so that, unfiltered, most calls would NOT fail with EPERM.

enum SeccompProbe {
    static let script = #"""
        import ctypes, errno, os, socket, threading
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        def call(*args):
            ctypes.set_errno(0)
            r = libc.syscall(*[ctypes.c_long(a) for a in args])
            if r == 0 and args[0] == 56:   # a clone that succeeded: the child leaves at once
                os._exit(0)
            return "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
        def probe(name, *args):
            print(name, call(*args), flush=True)
        probe("ptrace_attach", 101, 16, os.getpid(), 0, 0)
        probe("process_vm_readv", 310, os.getpid(), 0, 0, 0, 0, 0)
        probe("pidfd_open", 434, os.getpid(), 0)
        probe("pidfd_getfd", 438, 0, 0, 0)
        probe("unshare_user", 272, 0x10000000)
        probe("unshare_net", 272, 0x40000000)
        probe("setns", 308, 0, 0)
        probe("mount", 165, 0, 0, 0, 0, 0)
        probe("bpf", 321, 0, 0, 0)
        probe("keyctl", 250, 0, -3, 0)
        probe("perf_event_open", 298, 0, 0, -1, -1, 0)
        probe("socket_packet", 41, 17, 3, 0)
        probe("socket_raw", 41, 2, 3, 1)
        probe("socket_netlink_route", 41, 16, 2, 0)
        probe("clone_newns", 56, 0x20000 | 17, 0, 0, 0, 0)
        probe("ioctl_tiocsti", 16, 0, 0x5412, 0)
        probe("ioctl_tiocsti_high_bits", 16, 0, 0x100005412, 0)
        probe("clone3", 435, 0, 0)
        probe("x32_getpid", 0x40000000 | 39)
        t = threading.Thread(target=lambda: None); t.start(); t.join()
        print("threads ok", flush=True)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC); u.bind(("127.0.0.1", 0))
        u.sendto(b"ping", u.getsockname())
        print("udp", "ok" if u.recv(16) == b"ping" else "mismatch", flush=True)
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM); a.sendall(b"x")
        print("unix", "ok" if b.recv(1) == b"x" else "mismatch", flush=True)
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM | socket.SOCK_NONBLOCK); s6.close()
        print("tcp6", "ok", flush=True)
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        print("fork", "ok" if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7 else "mismatch", flush=True)
        """#

    /// Probe → expected result.
    static let expectations: [String: String] = [
        "ptrace_attach": "EPERM", "process_vm_readv": "EPERM", "pidfd_open": "EPERM", "pidfd_getfd": "EPERM",
        "unshare_user": "EPERM", "unshare_net": "EPERM", "setns": "EPERM", "mount": "EPERM", "bpf": "EPERM", "keyctl": "EPERM",
        "perf_event_open": "EPERM", "socket_packet": "EPERM", "socket_raw": "EPERM", "socket_netlink_route": "EPERM",
        "clone_newns": "EPERM", "ioctl_tiocsti": "EPERM", "ioctl_tiocsti_high_bits": "EPERM", "clone3": "ENOSYS",
        "x32_getpid": "EPERM",  // another ABI: the filter's bad-architecture action, unnotified
        "threads": "ok", "udp": "ok", "unix": "ok", "tcp6": "ok", "fork": "ok",
    ]

    /// The notified calls above (clone3's ENOSYS and x32's EPERM are the filter's own answers, not notified).
    static let deniedCalls = 17
    static let deniedNames: Set<String> = [
        "ptrace", "process_vm_readv", "pidfd_open", "pidfd_getfd", "unshare", "setns", "mount", "bpf", "keyctl", "perf_event_open",
        "socket", "clone", "ioctl",
    ]
}
