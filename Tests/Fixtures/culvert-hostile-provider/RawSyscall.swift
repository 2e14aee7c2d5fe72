// RawSyscall: the system calls an attacker makes, raw, with the errno they end in. Hand-written
// because this fixture must see the kernel's own answer: Culvert's choke point
// (CulvertSystem/Syscall.swift) traps on EBADF/EFAULT and is internal, and most of these calls
// (ptrace, pidfd_getfd, bpf, keyctl, clone with namespace flags, unshare) have no Swift import.
// glibc's `syscall(2)` is variadic, which Swift does not import; it is looked up and called with
// six integer arguments, which is how the x86-64 and AArch64 Linux ABIs pass them either way.
// No C code: the fixture is test-only and must not add attack helpers to the production shim.

#if canImport(Glibc)
    import Glibc
#endif

enum RawSyscall {
    typealias Entry = @convention(c) (Int, Int, Int, Int, Int, Int, Int) -> Int

    /// glibc's syscall(2). Force unwrap: glibc always exports it; without it nothing here can run.
    nonisolated(unsafe) static let entry: Entry = unsafeBitCast(dlsym(nil, "syscall")!, to: Entry.self)  // immutable after load

    /// Runs syscall `number`; returns its result, or the errno it failed with.
    static func call(_ number: Int, _ a: Int = 0, _ b: Int = 0, _ c: Int = 0, _ d: Int = 0, _ e: Int = 0, _ f: Int = 0)
        -> Result<Int, Errno>
    {
        let result = entry(number, a, b, c, d, e, f)
        return result == -1 ? .failure(Errno(code: errno)) : .success(result)
    }

    /// Wraps a libc call that returns -1 and sets errno.
    static func libc<R: FixedWidthInteger>(_ body: () -> R) -> Result<R, Errno> {
        let result = body()
        return result == -1 ? .failure(Errno(code: errno)) : .success(result)
    }
}

/// An errno, named as in errno(3).
struct Errno: Error, CustomStringConvertible {
    var code: Int32
    var description: String {
        let names: [Int32: String] = [
            EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO", EBADF: "EBADF",
            ECHILD: "ECHILD", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY",
            EEXIST: "EEXIST", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL", ENOSPC: "ENOSPC", EROFS: "EROFS",
            ENOSYS: "ENOSYS", ENOTEMPTY: "ENOTEMPTY", ELOOP: "ELOOP", EAFNOSUPPORT: "EAFNOSUPPORT",
            EPROTONOSUPPORT: "EPROTONOSUPPORT", EADDRINUSE: "EADDRINUSE", EOPNOTSUPP: "EOPNOTSUPP", EUSERS: "EUSERS",
            EDQUOT: "EDQUOT", ENOKEY: "ENOKEY",
        ]
        return names[code] ?? "errno\(code)"
    }
}

/// The numbers of the calls this fixture makes raw, and the flags they take (from the kernel's uapi).
enum Kernel {
    #if arch(x86_64)
        static let ptrace = 101
        static let processVMReadv = 310
        static let unshare = 272
        static let clone = 56
        static let bpf = 321
        static let keyctl = 250
        static let renameat2 = 316
        static let mount = 165
        static let setsid = 112
    #elseif arch(arm64)
        static let ptrace = 117
        static let processVMReadv = 270
        static let unshare = 97
        static let clone = 220
        static let bpf = 280
        static let keyctl = 219
        static let renameat2 = 276
        static let mount = 40
        static let setsid = 157
    #endif
    static let pidfdOpen = 434
    static let pidfdGetfd = 438

    static let ptraceAttach = 16
    static let ptraceDetach = 17
    static let ptraceSeize = 0x4206
    static let ptraceInterrupt = 0x4207

    static let cloneNewNS = 0x0002_0000
    static let cloneNewUser = 0x1000_0000
    static let cloneNewNet = 0x4000_0000

    static let bpfMapCreate = 0
    static let bpfMapTypeArray: UInt32 = 2
    static let keyctlJoinSessionKeyring = 1
    static let renameExchange = 2
    static let msBind = 4096
    static let ethPAll: UInt16 = 0x0003
    static let netlinkRoute: Int32 = 0
    static let ipprotoICMP: Int32 = 1
}
