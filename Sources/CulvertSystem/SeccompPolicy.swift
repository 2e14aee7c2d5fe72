// SeccompPolicy: the provider seccomp allowlist as one readable table (syscall names → allowed, or
// allowed under a condition). SeccompProgram compiles it with libseccomp; docs/PROVIDERS.md is
// generated from `markdown`. Everything not listed goes to the default action, a user notification
// that culvertd's SeccompNotifier answers with EPERM and counts.

/// What the filter does with a listed syscall.
public enum SeccompRule: String, Sendable, Hashable, CaseIterable {
    /// Allowed with any arguments.
    case allow
    /// Allowed unless the flags (argument 0, the low 32 bits the kernel reads) contain a CLONE_NEW* flag.
    case cloneWithoutNamespaces
    /// Allowed for AF_UNIX, AF_INET, AF_INET6 with type SOCK_STREAM or SOCK_DGRAM (SOCK_NONBLOCK and
    /// SOCK_CLOEXEC may be or-ed in); raw, packet, netlink and every other family are denied.
    case tunnelSocket
    /// Allowed for AF_UNIX only.
    case unixSocketPair
    /// Allowed for every request except TIOCSTI and TIOCLINUX (terminal input injection); the request
    /// is matched on all 64 bits, so upper garbage bits (which the kernel ignores) cannot smuggle them.
    case ioctlExceptTerminalInjection
    /// Fails at once with ENOSYS, unnotified: clone3 passes its flags in memory the filter cannot
    /// read, and ENOSYS makes glibc and Go fall back to clone, whose flags it can.
    case failWithENOSYS

    /// One line for the documentation table.
    public var summary: String {
        switch self {
        case .allow: return "allowed"
        case .cloneWithoutNamespaces: return "allowed without CLONE_NEW* flags"
        case .tunnelSocket: return "AF_UNIX/AF_INET/AF_INET6 with SOCK_STREAM or SOCK_DGRAM only"
        case .unixSocketPair: return "AF_UNIX only"
        case .ioctlExceptTerminalInjection: return "allowed except TIOCSTI and TIOCLINUX"
        case .failWithENOSYS: return "fails with ENOSYS (libc falls back to clone)"
        }
    }
}

/// The provider policy.
public enum SeccompPolicy {
    /// One line of the table: a group of syscalls sharing a rule.
    public struct Row: Sendable, Hashable {
        public let group: String
        public let rule: SeccompRule
        public let syscalls: [String]
    }

    /// The errno a notified (denied) call fails with.
    public static let deniedErrno: Int32 = Syscall.EPERM

    /// Syscalls named here and missing on an architecture are skipped there (e.g. `open` on arm64).
    public static let provider: [Row] = [
        Row(
            group: "memory", rule: .allow,
            syscalls: ["brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "membarrier", "msync", "mincore", "mlock", "munlock"]),
        Row(
            group: "threads", rule: .allow,
            syscalls: [
                "futex", "futex_waitv", "set_robust_list", "rseq", "set_tid_address", "sched_yield", "sched_getaffinity",
                "sched_setaffinity", "sched_getparam", "sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min",
                "getpriority", "setpriority", "exit", "exit_group", "arch_prctl", "getcpu",
            ]),
        Row(group: "threads", rule: .cloneWithoutNamespaces, syscalls: ["clone"]),
        Row(group: "threads", rule: .failWithENOSYS, syscalls: ["clone3"]),
        Row(
            group: "signals", rule: .allow,
            syscalls: [
                "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
                "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "signalfd", "signalfd4", "pause", "kill", "tgkill", "tkill",
            ]),
        Row(
            group: "time", rule: .allow,
            syscalls: [
                "clock_gettime", "clock_getres", "clock_nanosleep", "gettimeofday", "time", "nanosleep", "timerfd_create",
                "timerfd_settime", "timerfd_gettime", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun",
                "timer_delete", "setitimer", "getitimer", "alarm", "times",
            ]),
        Row(
            group: "waiting", rule: .allow,
            syscalls: [
                "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
                "epoll_pwait2", "eventfd", "eventfd2", "pipe", "pipe2",
            ]),
        Row(
            group: "files", rule: .allow,
            syscalls: [
                "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2", "open",
                "openat", "openat2", "close", "close_range", "lseek", "fstat", "stat", "lstat", "newfstatat", "statx", "statfs",
                "fstatfs", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents", "getdents64", "fcntl", "dup",
                "dup2", "dup3", "flock", "fsync", "fdatasync", "ftruncate", "truncate", "fallocate", "mkdir", "mkdirat", "rmdir",
                "unlink", "unlinkat", "rename", "renameat", "renameat2", "chmod", "fchmod", "fchmodat", "umask", "utimensat",
                "memfd_create", "sendfile", "copy_file_range", "splice", "chdir", "fchdir", "getcwd",
            ]),
        Row(group: "devices", rule: .ioctlExceptTerminalInjection, syscalls: ["ioctl"]),
        Row(group: "sockets", rule: .tunnelSocket, syscalls: ["socket"]),
        Row(group: "sockets", rule: .unixSocketPair, syscalls: ["socketpair"]),
        Row(
            group: "sockets", rule: .allow,
            syscalls: [
                "bind", "connect", "listen", "accept", "accept4", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
                "setsockopt", "getsockopt", "getsockname", "getpeername", "shutdown",
            ]),
        Row(
            group: "process", rule: .allow,
            syscalls: [
                "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
                "getpgid", "getpgrp", "getsid", "setsid", "setpgid", "wait4", "waitid", "execve", "fork", "vfork", "prctl",
                "prlimit64", "getrlimit", "setrlimit", "getrusage", "uname", "sysinfo", "getrandom", "capget", "restart_syscall",
            ]),
    ]

    /// Denied on purpose (the default action covers them; listed so the documentation names them).
    public static let notablyDenied = [
        "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "unshare", "setns",
        "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "bpf",
        "keyctl", "add_key", "request_key", "perf_event_open", "kexec_load", "kexec_file_load", "init_module", "finit_module",
        "delete_module", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "personality", "setuid", "setgid",
        "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid", "capset", "seccomp",
    ]

    /// The table as Markdown (for docs/PROVIDERS.md).
    public static var markdown: String {
        var lines = ["| group | syscalls | rule |", "|---|---|---|"]
        for row in provider {
            lines.append("| \(row.group) | \(row.syscalls.joined(separator: ", ")) | \(row.rule.summary) |")
        }
        lines.append(
            "| everything else, e.g. | \(notablyDenied.joined(separator: ", ")) | notified: fails with EPERM, counted |")
        return lines.joined(separator: "\n") + "\n"
    }
}
