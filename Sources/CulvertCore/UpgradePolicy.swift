// UpgradePolicy: when an installed extension's newer version replaces the running one in sessions
// that run it (issue 16), and StagedUpgrade: a verified newer version waiting for that moment.
// Both are stored in registry.json with the extension (ExtensionInfo); absent means the default
// (policy.json `defaultUpgradePolicy`, itself `now`) and nothing staged.

/// When an upgrade of an extension that sessions run happens.
public enum UpgradePolicy: String, Codable, Sendable, Hashable, CaseIterable {
    /// At once, live (contract 9): the install answers when every session runs the new version.
    case now
    /// Live, once every session of the extension has carried no traffic for the idle interval.
    case whenIdle = "when-idle"
    /// When no session runs the extension any more: the next Connect runs the new version.
    case onDisconnect = "on-disconnect"
    /// When the administrator says so (UpgradeExtension); `upgrade_pending` tells them.
    case ask

    /// What an extension follows when neither it nor policy.json names a policy.
    public static let builtInDefault = UpgradePolicy.now
}

/// A newer version of an installed extension, verified and in the store, that the registry keeps
/// until its policy lets it replace the running version (or it is cancelled). Its store copy is
/// referenced, so gc keeps it. Readers see its version, never its paths (ReaderView).
public struct StagedUpgrade: Codable, Sendable, Equatable {
    public var displayName: String
    public var version: String
    public var build: Int64
    public var capabilities: [String]
    /// Where it was installed from.
    public var source: String
    /// Its verified read-only copy.
    public var storePath: String
    public var contentDigest: String
    public var stagedAt: String

    public init(
        displayName: String, version: String, build: Int64, capabilities: [String], source: String, storePath: String,
        contentDigest: String, stagedAt: String
    ) {
        self.displayName = displayName
        self.version = version
        self.build = build
        self.capabilities = capabilities
        self.source = source
        self.storePath = storePath
        self.contentDigest = contentDigest
        self.stagedAt = stagedAt
    }

    /// "1.2.3 (45)".
    public var versionDescription: String { "\(version) (\(build))" }
}

extension ExtensionInfo {
    /// The staged version as it will be registered once applied: enabled, reason `replaced`, with
    /// this entry's publisher and policy and nothing staged. Nil when nothing is staged.
    public var applyingStaged: ExtensionInfo? {
        guard let staged else { return nil }
        var next = ExtensionInfo(
            identifier: identifier, displayName: staged.displayName, version: staged.version, build: staged.build,
            publisher: publisher, signed: signed, state: .enabled, reason: "replaced", capabilities: staged.capabilities,
            source: staged.source, storePath: staged.storePath, contentDigest: staged.contentDigest, installedAt: staged.stagedAt)
        next.upgradePolicy = upgradePolicy
        return next
    }

    /// This entry with `staged` dropped: state back to `enabled` (it is only `replacing` while a
    /// version is staged), with `reason`.
    public func withoutStaged(reason: String) -> ExtensionInfo {
        var next = self
        next.staged = nil
        next.effectiveUpgradePolicy = nil
        if next.state == .replacing {
            next.state = .enabled
            next.reason = reason
        }
        return next
    }
}

/// How often staged upgrades are looked at (ManagerService+Policies).
public enum UpgradePolicyTiming {
    /// How long every session must carry no traffic before `when-idle` switches, unless culvertd
    /// is told otherwise (--upgrade-idle-interval).
    public static let defaultIdleInterval = 60.0
    /// Traffic samples per idle interval: a `when-idle` switch comes at most this fraction late.
    public static let samplesPerIdleInterval = 4.0
    /// The shortest time between two samples, whatever the interval.
    public static let minimumSamplePeriod = 0.05
}
