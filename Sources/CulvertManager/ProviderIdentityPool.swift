// ProviderIdentityPool: which uid (and gid, the same number) the next session's provider runs
// under (issue 11). Every session gets its own identity from a configured range, so providers
// cannot signal, ptrace or read one another; an identity is never given to two live sessions and
// never reused while any process still holds it or its cgroup still exists.
//
// The range (culvertd `--provider-uids`, default 90000-99999) sits above Debian's reserved
// 16-bit area (65000-65533, 65534 nobody; 65536+ is "dynamically allocated", Policy 9.2.2) and
// below 100000, where useradd starts /etc/subuid and /etc/subgid ranges: a subordinate range
// overlapping ours would let that user become our providers inside a user namespace.
// `validate(range:files:)` (in +Validation) refuses a range that meets any of those.
//
// A value type: the decision is made from what the caller says is live and busy, so it is
// testable without root or processes.

struct ProviderIdentityPool: Sendable, Equatable {
    /// Most identities a range may hold (the order below keeps one entry per identity).
    static let maximumSize = 65_536

    let range: ClosedRange<UInt32>
    /// Every identity of the range, least recently released first; never-used ones come first, in
    /// ascending order. Allocation takes the first usable one, release moves one to the end.
    private(set) var order: [UInt32]
    /// Identities handed out and not yet released.
    private(set) var held: Set<UInt32> = []

    /// A pool over `range`; `.tooLarge` (or `.empty`) if it cannot be one.
    init(range: ClosedRange<UInt32>) throws(ProviderIdentityRangeError) {
        guard range.count <= Self.maximumSize else {
            throw ProviderIdentityRangeError(.tooLarge(range: range, maximum: Self.maximumSize))
        }
        self.range = range
        order = Array(range)
    }

    /// The identity for a new session: the least recently released one that no live session
    /// holds (`liveSessions`: the uids of every session culvertd runs or has re-adopted), that
    /// this pool has not handed out, and that is not `busy` (the caller's check: a process holds
    /// it — `ProcessTable.identitiesInUse` — or its cgroup still exists). Nil when none is left.
    /// Identities skipped as busy keep their place, so they are tried first next time.
    mutating func allocate(liveSessions: Set<UInt32>, busy: (UInt32) -> Bool) -> UInt32? {
        guard let index = order.firstIndex(where: { !held.contains($0) && !liveSessions.contains($0) && !busy($0) }) else {
            return nil
        }
        let id = order.remove(at: index)
        order.append(id)
        held.insert(id)
        return id
    }

    /// Gives `id` back once its session is over (its processes and cgroup may still be going
    /// away: `allocate`'s busy check covers that). It becomes the most recently released, the
    /// last to be chosen again. An id outside the range is ignored. Releasing an id this pool did
    /// not hand out (a re-adopted session's) is fine: it too becomes the most recently released.
    mutating func release(_ id: UInt32) {
        guard range.contains(id), let index = order.firstIndex(of: id) else { return }
        held.remove(id)
        order.remove(at: index)
        order.append(id)
    }
}
