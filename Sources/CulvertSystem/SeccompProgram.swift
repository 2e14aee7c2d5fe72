// SeccompProgram: a seccomp filter as classic BPF bytes, compiled once in culvertd with libseccomp
// (which handles the architecture check: a call from another ABI, x32 included, never reaches the
// syscall rules) and exported, so the spawned child only hands the bytes to seccomp(2).

import CCulvert
import CSeccomp

#if canImport(Glibc)
    import Glibc
#endif

/// A compiled filter. The default action of `provider()` is a user notification (SECCOMP_RET_USER_NOTIF):
/// the spawned process needs a listener (culvertd's SeccompNotifier), else notified calls fail with ENOSYS.
public struct SeccompProgram: Sendable, Hashable {
    /// Bytes of one BPF instruction (struct sock_filter).
    public static let instructionBytes = 8
    /// Longest program the kernel takes (BPF_MAXINSNS).
    public static let maximumInstructions = Int(CULVERT_SPAWN_MAX_FILTER_INSTRUCTIONS)
    /// The low half: the kernel reads int and unsigned int arguments as 32 bits.
    static let low32: UInt64 = 0xFFFF_FFFF
    /// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET.
    /// (CLONE_NEWTIME, 0x80, overlaps clone's exit-signal byte and exists only for clone3/unshare.)
    static let namespaceCloneFlags: UInt64 = 0x7E02_0000
    /// SOCK_NONBLOCK | SOCK_CLOEXEC, masked out of socket(2)'s type.
    static let socketTypeFlags: UInt64 = 0x80800
    /// TIOCSTI and TIOCLINUX: the ioctls that push input into a terminal.
    static let terminalInjection: [UInt64] = [0x5412, 0x541C]
    /// The families and types `SeccompRule.tunnelSocket` allows.
    static let tunnelFamilies: [UInt64] = [UInt64(AF_UNIX), UInt64(AF_INET), UInt64(AF_INET6)]
    /// SOCK_STREAM (1) and SOCK_DGRAM (2), Linux ABI values: glibc's `__socket_type` does not import
    /// into this module in release builds ("cannot find 'SOCK_STREAM'"); a test checks them in debug.
    static let tunnelTypes: [UInt64] = [1, 2]

    /// The program: struct sock_filter[], `instructionBytes` each.
    public let bytes: [UInt8]

    public var instructionCount: Int { bytes.count / Self.instructionBytes }

    /// A program from exported bytes. Throws EINVAL if they are not whole instructions or too many.
    public init(bytes: [UInt8]) throws(SystemError) {
        guard !bytes.isEmpty, bytes.count % Self.instructionBytes == 0, bytes.count / Self.instructionBytes <= Self.maximumInstructions
        else { throw SystemError(call: "seccomp program of \(bytes.count) bytes", errno: Syscall.EINVAL) }
        self.bytes = bytes
    }

    /// The provider policy (`SeccompPolicy.provider`), compiled. Build it once and reuse it.
    public static func provider() throws(SystemError) -> SeccompProgram {
        try compile(SeccompPolicy.provider, defaultAction: culvert_scmp_act_notify())
    }

    /// Compiles `rows` for the native architecture; calls not in `rows` get `defaultAction`.
    /// The corresponding C functions are libseccomp's `seccomp_init`, `seccomp_rule_add_array` and
    /// `seccomp_export_bpf` (into a memfd, read back here).
    static func compile(_ rows: [SeccompPolicy.Row], defaultAction: UInt32) throws(SystemError) -> SeccompProgram {
        guard let context = seccomp_init(defaultAction) else { throw SystemError(call: "seccomp_init", errno: ENOMEM) }
        defer { seccomp_release(context) }
        // A foreign ABI's call fails with EPERM (unnotified): no Swift or Go provider makes one.
        try library("seccomp_attr_set") {
            seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, culvert_scmp_act_errno(UInt16(SeccompPolicy.deniedErrno)))
        }
        for row in rows {
            for name in row.syscalls {
                let number = seccomp_syscall_resolve_name(name)
                guard number != __NR_SCMP_ERROR else { throw SystemError(call: "seccomp_syscall_resolve_name", errno: ENOENT, path: name) }
                if number < 0 { continue }  // a syscall this architecture does not have
                for (action, conditions) in rules(for: row.rule) {
                    try library("seccomp_rule_add_array", path: name) {
                        seccomp_rule_add_array(context, action, number, UInt32(conditions.count), conditions)
                    }
                }
            }
        }
        let memory = Descriptor(rawValue: try Syscall.call("memfd_create") { culvert_memfd_create("culvert-seccomp") })
        defer { memory.close() }
        try library("seccomp_export_bpf") { seccomp_export_bpf(context, memory.rawValue) }
        _ = try Syscall.call("lseek") { Int32(truncatingIfNeeded: lseek(memory.rawValue, 0, SEEK_SET)) }
        return try SeccompProgram(bytes: try ProcessImage.readAll(memory, limit: maximumInstructions * instructionBytes))
    }

    /// libseccomp's convention (a negative errno) through the syscall choke point.
    private static func library(_ name: String, path: String? = nil, _ body: () -> Int32) throws(SystemError) {
        _ = try Syscall.call(name, path: path) {
            let rc = body()
            guard rc < 0 else { return rc }
            errno = -rc
            return -1
        }
    }

    /// The (action, conditions) rules implementing `rule`; each rule's conditions must all hold.
    static func rules(for rule: SeccompRule) -> [(UInt32, [scmp_arg_cmp])] {
        let allow = culvert_scmp_act_allow()
        switch rule {
        case .allow:
            return [(allow, [])]
        case .failWithENOSYS:
            return [(culvert_scmp_act_errno(UInt16(ENOSYS)), [])]
        case .cloneWithoutNamespaces:
            return [(allow, [masked(0, namespaceCloneFlags, 0)])]
        case .unixSocketPair:
            return [(allow, [masked(0, low32, UInt64(AF_UNIX))])]
        case .tunnelSocket:
            return tunnelFamilies.flatMap { family in
                tunnelTypes.map { type in (allow, [masked(0, low32, family), masked(1, low32 & ~socketTypeFlags, type)]) }
            }
        case .ioctlExceptTerminalInjection:
            // All 64 bits are compared: each allowed 32-bit range is covered by aligned blocks whose masks
            // include the upper half (which must be zero), plus sign-extended requests (upper half all
            // ones, bit 31 set) that can never be TIOCSTI/TIOCLINUX.
            let sorted = terminalInjection.sorted()
            var ranges: [(UInt64, UInt64)] = []
            var next: UInt64 = 0
            for denied in sorted {
                if denied > next { ranges.append((next, denied - 1)) }
                next = denied + 1
            }
            ranges.append((next, low32))
            var result = ranges.flatMap { alignedBlocks(from: $0.0, through: $0.1) }.map { (allow, [masked(1, $0.mask, $0.value)]) }
            let signExtended: UInt64 = 0xFFFF_FFFF_8000_0000
            result.append((allow, [masked(1, signExtended, signExtended)]))
            return result
        }
    }

    /// The aligned power-of-two blocks (value, 64-bit mask) exactly covering [low, high] (high < 2^32).
    static func alignedBlocks(from low: UInt64, through high: UInt64) -> [(value: UInt64, mask: UInt64)] {
        var blocks: [(value: UInt64, mask: UInt64)] = []
        var start = low
        while start <= high {
            var size: UInt64 = 1
            while size < (1 << 32), start % (size * 2) == 0, start + size * 2 - 1 <= high { size *= 2 }
            blocks.append((start, ~(size - 1)))
            start += size
        }
        return blocks
    }

    /// `(argument & mask) == value`.
    static func masked(_ argument: UInt32, _ mask: UInt64, _ value: UInt64) -> scmp_arg_cmp {
        scmp_arg_cmp(arg: argument, op: SCMP_CMP_MASKED_EQ, datum_a: mask, datum_b: value)
    }
}
