// UpgradeBatch: the live upgrade of every connected session of one extension, one after the other.
// At the first failure the sessions already moved are moved back (the registry keeps the previous
// version until all succeeded), so every session runs the version the registry names.
//
//   upgrading ─(each session: upgraded / skipped)─► done(nil)
//       │ first failure
//       ▼
//   movingBack ─(each moved session: back, skipped, or kept on the target: logged)─► done(failed profile)

public struct UpgradeBatch: Sendable, Hashable {
    public enum Step: Sendable, Hashable {
        /// Upgrade this profile's session (an `UpgradeMachine` towards the target); feed `finished`,
        /// or `skipped` when it no longer runs (not connected/reasserting or no provider).
        case upgrade(String)
        /// Move this profile's session back (an `UpgradeMachine` towards the previous version); feed
        /// `finished` (a failure leaves it on the target version: log it), or `skipped`.
        case moveBack(String)
        /// Over: nil when every session runs the target version, else the profile whose upgrade failed
        /// (its failure is the batch's result).
        case done(failedProfile: String?)
    }

    public private(set) var pending: [String]
    public private(set) var moved: [String] = []
    /// Set at the first failure: the profile that failed, while the moved sessions go back.
    public private(set) var failedProfile: String?
    private var current: String?

    /// `profiles`: the sessions to upgrade, in order.
    public init(profiles: [String]) {
        pending = profiles
    }

    /// The first step.
    public mutating func start() -> Step { advance() }

    /// The current step's session did (nil) or did not (its failure) reach its version.
    public mutating func finished(failed: Bool) -> Step {
        guard let profile = current else { return advance() }
        current = nil
        if failedProfile == nil {
            if failed {
                failedProfile = profile
                pending = moved
                moved = []
            } else {
                moved.append(profile)
            }
        }
        return advance()
    }

    /// The current step's session no longer runs: nothing to move.
    public mutating func skipped() -> Step {
        current = nil
        return advance()
    }

    private mutating func advance() -> Step {
        guard !pending.isEmpty else { return .done(failedProfile: failedProfile) }
        let profile = pending.removeFirst()
        current = profile
        return failedProfile == nil ? .upgrade(profile) : .moveBack(profile)
    }
}
