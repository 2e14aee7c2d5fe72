// UpgradePolicyMachine: when a newer version of one extension replaces the running one, as a
// value type (issue 16, upgrade policies). Inputs are what happened (an install, a traffic
// sample, sessions ending, the administrator asking or cancelling, the switch finishing); the
// result is what ManagerService+Policies does. It holds no resources and reads no clock (times
// come with the inputs), so every state × input pair is unit-tested without processes.
//
//   nothingStaged ─install(running, policy ≠ now)─► waiting ─┬─ ask ──────────────────────► applying
//        │   ▲            (stage + upgrade_pending)     │ ▲   ├─ policy now ────────────────► applying
//        │   │                                          │ │   ├─ sessions(running: false) ─► applying  (when-idle, on-disconnect)
//        │   │                      install (restage) ──┘ │   ├─ traffic unchanged ≥ idle ─► applying  (when-idle)
//        │   └──────────── cancel (drop) ─────────────────┘   └─ install, none running ────► applying
//        └─install(none running, or policy now)─► applying ─finished─► nothingStaged
//
// `applying` refuses ask, cancel and install (`inProgress`); a failed switch drops the staged
// version too (finished), so a version that failed is not tried again by itself.

/// The traffic of one extension's sessions at one instant: each running session's packet
/// counters (both directions), by session id. Equal samples mean no packet moved in between.
public struct TrafficSample: Sendable, Hashable {
    public var packets: [String: [Int64]]
    public init(packets: [String: [Int64]]) { self.packets = packets }
    /// No session of the extension runs.
    public var isEmpty: Bool { packets.isEmpty }
}

public struct UpgradePolicyMachine: Sendable, Hashable {
    public enum State: Sendable, Hashable, CaseIterable {
        /// The registered version is the only one.
        case nothingStaged
        /// A newer version is staged; the policy has not let it in yet.
        case waiting
        /// The switch runs (a live upgrade, or the registration alone when no session runs it).
        case applying
    }

    public enum Input: Sendable, Hashable {
        /// A newer version was verified and copied; `sessionsRunning`: whether any session runs the extension.
        case install(sessionsRunning: Bool)
        /// The administrator set the extension's policy.
        case setPolicy(UpgradePolicy)
        /// Whether any session runs the extension now: at start, once a session ended, after a policy change.
        case sessions(running: Bool)
        /// The sessions' counters, sampled at `at` (seconds on a monotonic clock).
        case traffic(TrafficSample, at: Double)
        /// UpgradeExtension: apply the staged version now, whatever the policy.
        case ask
        /// CancelUpgrade: forget the staged version.
        case cancel
        /// The switch ended (applied or failed: either way nothing is staged any more).
        case finished
    }

    public enum Refusal: String, Sendable, Hashable, CaseIterable {
        case nothingStaged = "nothing_staged"
        case inProgress = "upgrade_in_progress"
    }

    public enum Action: Sendable, Hashable {
        /// Record the new version as staged (replacing one staged before), state `replacing`;
        /// publish `upgrade_pending`; the install answers `staged`.
        case stage
        /// Switch to the new version now: live for running sessions, exactly as policy `now`.
        case apply
        /// Forget the staged version (state back to `enabled`, `upgrade_cancelled`).
        case drop
        /// Refuse the request.
        case refuse(Refusal)
    }

    public private(set) var state: State
    public private(set) var policy: UpgradePolicy
    /// How long every session must carry no traffic before `when-idle` switches.
    public let idleInterval: Double
    /// The last traffic sample while waiting, and since when it has not changed.
    public private(set) var lastSample: TrafficSample?
    public private(set) var quietSince: Double?

    /// `staged`: the registry holds a staged version (a start after a re-exec or a crash).
    public init(policy: UpgradePolicy, idleInterval: Double, staged: Bool = false) {
        self.policy = policy
        self.idleInterval = idleInterval
        state = staged ? .waiting : .nothingStaged
    }

    public mutating func handle(_ input: Input) -> [Action] {
        switch (state, input) {
        case (.applying, .install), (.applying, .ask), (.applying, .cancel):
            return [.refuse(.inProgress)]
        case (.applying, .finished):
            state = .nothingStaged
            return []
        case (.applying, .setPolicy(let policy)), (.nothingStaged, .setPolicy(let policy)):
            self.policy = policy
            return []
        case (.applying, .sessions), (.applying, .traffic):
            return []

        case (.nothingStaged, .install(let running)):
            return running && policy != .now ? stage() : apply()
        case (.nothingStaged, .ask), (.nothingStaged, .cancel):
            return [.refuse(.nothingStaged)]
        case (.nothingStaged, .sessions), (.nothingStaged, .traffic), (.nothingStaged, .finished):
            return []

        case (.waiting, .install(let running)):
            return running && policy != .now ? stage() : apply()
        case (.waiting, .setPolicy(let policy)):
            self.policy = policy
            forgetTraffic()
            return policy == .now ? apply() : []
        case (.waiting, .sessions(let running)):
            return !running && policy != .ask ? apply() : []
        case (.waiting, .traffic(let sample, let at)):
            return traffic(sample, at: at)
        case (.waiting, .ask):
            return apply()
        case (.waiting, .cancel):
            state = .nothingStaged
            forgetTraffic()
            return [.drop]
        case (.waiting, .finished):
            return []
        }
    }

    private mutating func stage() -> [Action] {
        state = .waiting
        forgetTraffic()
        return [.stage]
    }

    private mutating func apply() -> [Action] {
        state = .applying
        forgetTraffic()
        return [.apply]
    }

    private mutating func forgetTraffic() {
        lastSample = nil
        quietSince = nil
    }

    /// `when-idle`: switch once the sample has not changed for the idle interval (or no session
    /// runs); `on-disconnect`: once no session runs. Other policies ignore traffic.
    private mutating func traffic(_ sample: TrafficSample, at: Double) -> [Action] {
        guard policy == .whenIdle || policy == .onDisconnect else { return [] }
        if sample.isEmpty { return apply() }
        guard policy == .whenIdle else { return [] }
        guard let lastSample, let quietSince, lastSample == sample else {
            self.lastSample = sample
            self.quietSince = at
            return []
        }
        return at - quietSince >= idleInterval ? apply() : []
    }
}
