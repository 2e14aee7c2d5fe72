// ProviderConfinement: what contains every provider run (docs/PROVIDERS.md) — a uid and gid of its
// own from the configured range, a cgroup of its own with task and memory limits (made before the
// spawn, which starts the child inside it), and the seccomp filter whose refusals are counted.
// `prepare` makes a run's confinement; `RunConfinement.end` kills the run's whole cgroup, waits
// (bounded) until it is empty, removes it and only then gives the identity back. A cgroup that
// does not empty in time lingers: it is retried, and its identity stays taken until it is gone.

import CulvertCore
import CulvertSystem
import Dispatch
import Logging

/// Why containment cannot be set up as configured; culvertd does not start.
public enum ConfinementError: Error, CustomStringConvertible {
    case identities(String)

    public var description: String {
        switch self {
        case .identities(let reason): return "--provider-uids: \(reason)"
        }
    }
}

final class ProviderConfinement: @unchecked Sendable {  // confined to the manager queue
    /// How long ending a run waits for its killed cgroup to empty before letting it linger.
    static let emptyWait: Duration = .milliseconds(500)
    /// How often lingering cgroups are killed again and checked.
    static let lingerRetry: Duration = .seconds(1)

    let layout: CgroupLayout?
    let root: CgroupSessionsRoot?
    let seccomp: SeccompProgram?
    let limits: ProviderLimits
    /// The configured range (the pool's).
    var identities: ClosedRange<UInt32> { pool.range }
    private(set) var pool: ProviderIdentityPool
    /// Identities of runs not yet ended (or still lingering).
    private(set) var taken: Set<UInt32> = []
    private var lingering: [RunConfinement] = []
    private var lingerTimer: DispatchWorkItem?
    let notifierQueue = DispatchQueue(label: "culvertd.seccomp")
    let queue: DispatchQueue
    let logger: Logger
    /// What was detected at start, for the log and status.
    private(set) var problems: [String] = []

    init(configuration: SupervisorConfiguration, queue: DispatchQueue, logger: Logger) {
        self.queue = queue
        self.logger = logger
        limits = configuration.providerLimits
        var problems: [String] = []
        do { pool = try ProviderIdentityPool(range: configuration.providerIdentities) } catch {
            // validate() refused such a range before the daemon got here; a one-identity pool keeps this total.
            problems.append("\(error)")
            let one = ProviderLimits.defaultIdentities.lowerBound
            pool = try! ProviderIdentityPool(range: one...one)  // try!: a one-identity range is never too large
        }
        var detected: CgroupLayout?
        do { detected = try CgroupLayout.detect() } catch { problems.append("no cgroups: \(error)") }
        layout = detected
        var root: CgroupSessionsRoot?
        if let detected {
            do {
                var made = try CgroupSessionsRoot(layout: detected, location: Self.rootLocation(configuration, layout: detected))
                try made.prepare()
                root = made
            } catch {
                problems.append("no session cgroups: \(error)")
            }
        }
        self.root = root
        do { seccomp = try SeccompProgram.provider() } catch {
            problems.append("no system call filter: \(error)")
            seccomp = nil
        }
        self.problems = problems
        for problem in problems { logger.error("containment: \(problem)") }
    }

    /// Checks the identity range against the system's users, groups and subordinate ranges.
    static func validate(_ configuration: SupervisorConfiguration) throws(ConfinementError) {
        do { try ProviderIdentityPool.validate(range: configuration.providerIdentities) } catch {
            throw .identities(error.description)
        }
    }

    /// Where session cgroups go. `--cgroup-root` wins. Under a delegated pure-v2 cgroup (systemd
    /// `Delegate=yes`) culvertd's own cgroup is its alone: `<own>/sessions`. Anywhere else (a shell,
    /// a test) several culvertds may share a cgroup, and one must never take another's sessions
    /// for leftovers: the directory is named after the runtime directory.
    static func rootLocation(_ configuration: SupervisorConfiguration, layout: CgroupLayout) -> CgroupRootLocation {
        if let explicit = configuration.cgroupRoot { return .explicit(explicit) }
        if layout.mode == .unified { return .underOwnCgroup }
        var hash: UInt32 = 2_166_136_261  // FNV-1a
        for byte in configuration.runtimeDirectory.utf8 {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        let own = layout.unified?.ownCgroup ?? "/"
        return .explicit((own == "/" ? "" : own) + "/culvert-sessions-" + String(hash, radix: 16))
    }

    var info: ContainmentInfo {
        var enforceable: [String] = []
        if let root, root.layout.enforcesTasks { enforceable.append("tasks") }
        if let root, root.layout.enforcesMemory { enforceable.append("memory") }
        let kinds: [CgroupMode: String] = [.unified: "cgroup_v2", .hybrid: "hybrid", .legacy: "legacy", .none: "none"]
        return ContainmentInfo(
            identities: "\(identities.lowerBound)-\(identities.upperBound)", cgroups: root.flatMap { kinds[$0.layout.mode] } ?? "none",
            limits: enforceable, tasksMax: enforceable.contains("tasks") ? Int64(limits.tasks) : nil,
            memoryMax: enforceable.contains("memory") ? Int64(limits.memoryBytes) : nil, seccomp: seccomp == nil ? "none" : "notify",
            description: ([root?.description ?? layout?.description ?? "no cgroups"] + problems).joined(separator: "; "))
    }

    /// A new run's identity and cgroup (`id`: the run's record id). The caller spawns with
    /// `spawnContainment()` and hands the run the result; on any failure nothing is left behind.
    func prepare(id: String, tasks: Int?, memoryBytes: Int?) throws(LaunchFailure) -> RunConfinement {
        let resolved: (tasks: Int, memoryBytes: Int)
        do { resolved = try limits.resolved(tasks: tasks, memoryBytes: memoryBytes) } catch {
            throw LaunchFailure(step: .credentials, description: error.description)
        }
        let busy = ProcessTable.identitiesInUse(within: identities)
        guard let uid = pool.allocate(liveSessions: taken, busy: { busy.contains($0) }) else {
            throw LaunchFailure(
                step: .credentials,
                description: "no free provider identity in \(identities.lowerBound)-\(identities.upperBound) (all taken or still running)")
        }
        var cgroup: SessionCgroup?
        var applied: CgroupLimits?
        if let root {
            do {
                let made = try SessionCgroup(name: id, in: root)
                applied = try made.create(limits: CgroupLimits(tasksMax: resolved.tasks, memoryMax: resolved.memoryBytes))
                cgroup = made
            } catch {
                pool.release(uid)
                throw LaunchFailure(step: .credentials, description: "creating the session's cgroup: \(error)")
            }
        }
        taken.insert(uid)
        return RunConfinement(
            owner: self, credentials: ProviderCredentials(userID: uid, groupID: uid), cgroup: cgroup,
            limits: (applied?.tasksMax, applied?.memoryMax))
    }

    /// The confinement of a run a previous culvertd started (re-adoption): its cgroup, its identity taken.
    func adopt(id: String, uid: UInt32) -> RunConfinement {
        taken.insert(uid)
        // try?: a name that is not a valid cgroup name, or no such cgroup, means the run has none.
        let cgroup = root.flatMap { try? SessionCgroup(name: id, in: $0) }.flatMap { $0.exists ? $0 : nil }
        return RunConfinement(
            owner: self, credentials: ProviderCredentials(userID: uid, groupID: uid), cgroup: cgroup, limits: (nil, nil))
    }

    /// Kills and removes every session cgroup under the root whose name is not in `keeping`:
    /// leftovers of runs no record names (a damaged record must not leave a tunnel running).
    func sweep(keeping names: Set<String>) {
        guard let root else { return }
        let leftovers: [SessionCgroup]
        do { leftovers = try SessionCgroup.existing(in: root) } catch {
            return logger.error("listing session cgroups under \(root): \(error)")
        }
        for cgroup in leftovers where !names.contains(cgroup.name) {
            logger.warning("killing the processes of session cgroup \(cgroup.name): no session record names it")
            RunConfinement(owner: self, credentials: nil, cgroup: cgroup, limits: (nil, nil)).end()
        }
    }

    /// At daemon stop, after every session ended: the sessions root goes if nothing is left in it
    /// (a lingering cgroup keeps it, and with it the record of what still runs).
    func shutDown() {
        do { try root?.removeIfEmpty() } catch { logger.info("session cgroups root stays: \(error)") }
    }

    fileprivate func finish(_ confinement: RunConfinement) {
        if let cgroup = confinement.cgroup {
            do { try cgroup.kill() } catch { logger.error("killing session cgroup \(cgroup.name): \(error)") }
            // try?: a failed wait is the same as not empty yet: the cgroup lingers and is retried.
            let empty = (try? cgroup.waitUntilEmpty(timeout: Self.emptyWait)) ?? false
            guard empty else {
                logger.warning("session cgroup \(cgroup.name) still has processes after cgroup.kill; retrying")
                lingering.append(confinement)
                scheduleLingerRetry()
                return
            }
            do { try cgroup.remove() } catch { logger.error("removing session cgroup \(cgroup.name): \(error)") }
        }
        if let uid = confinement.credentials?.userID {
            taken.remove(uid)
            pool.release(uid)
        }
    }

    private func scheduleLingerRetry() {
        guard lingerTimer == nil else { return }
        let item = DispatchWorkItem { [weak self] in
            guard let self else { return }
            self.lingerTimer = nil
            let retry = self.lingering
            self.lingering = []
            for confinement in retry { self.finish(confinement) }
        }
        lingerTimer = item
        queue.asyncAfter(deadline: .now() + Self.lingerRetry.dispatchInterval, execute: item)
    }
}

/// One run's identity, cgroup and refusal counter. Ended exactly once, when the run is closed.
final class RunConfinement: @unchecked Sendable {  // confined to the manager queue
    private unowned let owner: ProviderConfinement
    /// Nil only for a leftover cgroup being swept.
    let credentials: ProviderCredentials?
    let cgroup: SessionCgroup?
    /// The limits written to the cgroup (nil for an adopted run: whatever its cgroup says).
    let limits: (tasks: Int?, memoryBytes: Int?)
    private(set) var notifier: SeccompNotifier?
    /// Our own copy of the run's seccomp listener, for a re-exec to carry (the notifier's copy is
    /// closed by the notifier whenever it stops, so it cannot be lent out).
    private(set) var listener: Descriptor?
    private(set) var ended = false

    init(owner: ProviderConfinement, credentials: ProviderCredentials?, cgroup: SessionCgroup?, limits: (tasks: Int?, memoryBytes: Int?)) {
        self.owner = owner
        self.credentials = credentials
        self.cgroup = cgroup
        self.limits = limits
    }

    /// What the spawn needs: the cgroup to start in and the seccomp filter. The caller closes
    /// the placement's descriptors after the spawn.
    func spawnContainment() throws(LaunchFailure) -> (ProviderContainment, CgroupPlacement?) {
        var placement: CgroupPlacement?
        do { placement = try cgroup?.placement() } catch {
            throw LaunchFailure(step: .credentials, description: "opening the session's cgroup: \(error)")
        }
        return (
            ProviderContainment(cgroup: placement?.cgroupDirectory, attachFiles: placement?.attachFiles ?? [], seccomp: owner.seccomp),
            placement
        )
    }

    /// Starts answering and counting the run's refused calls from `listener` (which stays the
    /// caller's to close): the spawn's, or one a re-exec carried with what was counted before.
    func watchRefusals(listener: Descriptor, carrying denials: SeccompDenials = SeccompDenials()) throws(SystemError) {
        let copy = try listener.duplicate()
        do { notifier = try SeccompNotifier(listener: copy, queue: owner.notifierQueue, carrying: denials) } catch {
            copy.close()
            throw error
        }
        self.listener = copy
    }

    /// Kills everything in the run's cgroup, removes it and releases the identity. Idempotent.
    func end() {
        guard !ended else { return }
        ended = true
        notifier?.cancel()
        listener?.close()
        listener = nil
        owner.finish(self)
    }

    /// For status: limits, use now, refusals.
    var status: SessionContainment {
        let usage = try? cgroup?.usage()  // try?: a cgroup being torn down has no usage to show
        let denials = notifier?.denials
        return SessionContainment(
            cgroup: cgroup?.description, tasksMax: limits.tasks.map(Int64.init), memoryMax: limits.memoryBytes.map(Int64.init),
            tasks: usage.map { Int64($0.tasks) }, memoryBytes: usage?.memoryBytes.map(Int64.init),
            deniedCalls: Int64(clamping: denials?.count ?? 0),
            deniedCallNames: Array((denials?.recentNames ?? []).suffix(SessionContainment.maximumDeniedCallNames)))
    }
}
