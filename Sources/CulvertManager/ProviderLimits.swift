// ProviderLimits: how many tasks and how much memory one session's provider may use (its cgroup's
// pids and memory limits). A session gets the default unless its extension's manifest declares
// what it needs; a declaration above the policy maximum is refused at launch, never silently cut.

/// Per-session resource limits: culvertd flags.
public struct ProviderLimits: Sendable, Hashable {
    /// `--provider-uids` default: above Debian's 16-bit reserved ids (65000–65535) and below
    /// 100000, where useradd starts /etc/subuid and /etc/subgid ranges (a subordinate range that
    /// overlapped ours would let its owner act as our providers inside a user namespace).
    public static let defaultIdentities: ClosedRange<UInt32> = 90000...99999

    /// Tasks (processes and threads) a session's cgroup may hold unless its manifest asks otherwise.
    public var tasks = 256
    /// The most tasks a manifest may ask for.
    public var maximumTasks = 4096
    /// Memory a session's cgroup may charge unless its manifest asks otherwise.
    public var memoryBytes = 256 << 20
    /// The most memory a manifest may ask for.
    public var maximumMemoryBytes = 4 << 30
    /// Receive and send buffer of every socket a provider protects: a tunnel's one UDP socket
    /// carries everything, and the default (net.core.rmem_max, ~208 KiB) overflows under load.
    /// Set by culvertd (`SO_RCVBUFFORCE`): an unprivileged provider cannot go past rmem_max itself.
    public var protectedSocketBufferBytes = 7 << 20

    public init() {}

    /// `--provider-uids FIRST-LAST` (the pool's grammar) within [1000, 2^31); nil otherwise. The
    /// range is checked against the system's accounts when culvertd starts.
    public static func identities(parsing text: String) -> ClosedRange<UInt32>? {
        // try?: any refusal of the text is "not a range" to the flag's validation.
        guard let range = try? ProviderIdentityPool.parseRange(text), range.lowerBound >= ProviderIdentityPool.lowestAllowedID,
            range.upperBound <= ProviderIdentityPool.highestAllowedID
        else { return nil }
        return range
    }

    /// What a session gets when its manifest declares `tasks`/`memoryBytes` (nil: the default).
    /// Throws a description when a declaration exceeds the maximum.
    func resolved(tasks declaredTasks: Int?, memoryBytes declaredMemory: Int?) throws(LimitRefusal) -> (tasks: Int, memoryBytes: Int) {
        if let declaredTasks, declaredTasks > maximumTasks {
            throw LimitRefusal(
                description: "the extension asks for \(declaredTasks) tasks; culvertd allows at most \(maximumTasks) (--provider-tasks-max)"
            )
        }
        if let declaredMemory, declaredMemory > maximumMemoryBytes {
            throw LimitRefusal(
                description:
                    "the extension asks for \(declaredMemory) bytes of memory; culvertd allows at most \(maximumMemoryBytes) (--provider-memory-max)"
            )
        }
        return (declaredTasks ?? tasks, declaredMemory ?? memoryBytes)
    }

    struct LimitRefusal: Error {
        var description: String
    }
}
