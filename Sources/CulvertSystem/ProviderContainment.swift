// ProviderContainment: what ProviderSpawn puts a new provider into before its code runs — a cgroup2
// directory (entered atomically with clone3(CLONE_INTO_CGROUP) where the kernel has it), cgroup v1
// hierarchies (pids, memory) and a seccomp filter whose listener culvertd keeps. The descriptors stay
// the caller's; spawning only uses them.

import CCulvert

/// How a provider was put into its cgroup2 directory (`SpawnedProcess.cgroupPlacement`), for status.
public enum CgroupJoin: String, Sendable, Hashable {
    /// No cgroup2 directory was given.
    case none
    /// clone3 with CLONE_INTO_CGROUP: the process never existed outside the cgroup.
    case clonedIntoCgroup
    /// The kernel lacks CLONE_INTO_CGROUP (before 5.7): the forked child wrote itself into cgroup.procs
    /// as its first act, before dropping privileges or running any provider code.
    case joinedBeforeExec
}

/// Containment for one provider. `ProviderContainment()` is none at all.
public struct ProviderContainment: Sendable, Hashable {
    /// Most cgroup v1 hierarchies a provider joins.
    public static let maximumAttachFiles = Int(CULVERT_SPAWN_MAX_ATTACH)

    /// An O_DIRECTORY | O_CLOEXEC descriptor of the session's cgroup2 directory, or nil.
    public var cgroup: Descriptor?
    /// Open (write) `cgroup.procs` files of cgroup v1 hierarchies the child joins (writing "0") before it
    /// drops privileges. A failed write fails the spawn at `SpawnStep.attachCgroupV1`.
    public var attachFiles: [Descriptor]
    /// Installed last before execve (after no_new_privs) with a listener that reaches
    /// `SpawnedProcess.seccompListener`, never the provider. Allows what the child needs after it:
    /// `SeccompProgram.provider()` does.
    public var seccomp: SeccompProgram?
    /// false skips clone3 and always takes the fork-and-join fallback (tests; a kernel where clone3 misbehaves).
    public var tryCloneIntoCgroup: Bool

    public init(cgroup: Descriptor? = nil, attachFiles: [Descriptor] = [], seccomp: SeccompProgram? = nil, tryCloneIntoCgroup: Bool = true)
    {
        self.cgroup = cgroup
        self.attachFiles = attachFiles
        self.seccomp = seccomp
        self.tryCloneIntoCgroup = tryCloneIntoCgroup
    }

    /// True when nothing is asked for.
    public var isEmpty: Bool { cgroup == nil && attachFiles.isEmpty && seccomp == nil }
}
