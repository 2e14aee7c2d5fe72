// ExtensionInfo: an installed extension as listings, status and events report it.

/// Lifecycle of an installed extension (contract 7).
public enum ExtensionState: String, Codable, Sendable, CaseIterable {
    case staged
    case awaitingApproval = "awaiting_approval"
    case enabled
    case replacing
    case failed
    case uninstalling

    /// Whether profiles may run it: `enabled`, or `replacing` (its registered version runs while a
    /// newer one is staged).
    public var isUsable: Bool { self == .enabled || self == .replacing }
}

public struct ExtensionInfo: Codable, Sendable, Equatable {
    public var identifier: String
    public var displayName: String
    public var version: String
    public var build: Int64
    /// Key fingerprint, or "unsigned".
    public var publisher: String
    public var signed: Bool
    public var state: ExtensionState
    /// Why it is in `state`, e.g. "approval_required", "approved", "installed".
    public var reason: String
    public var capabilities: [String]
    /// Where it was installed from.
    public var source: String
    /// The verified read-only copy culvertd runs.
    public var storePath: String
    public var contentDigest: String
    public var installedAt: String
    /// The upgrade policy the administrator set for this extension (SetUpgradePolicy); nil: the
    /// default of policy.json. Stored in registry.json.
    public var upgradePolicy: UpgradePolicy?
    /// The policy in force (set or default), as listings, status and events show it; never stored.
    public var effectiveUpgradePolicy: UpgradePolicy?
    /// A newer version waiting for the policy (state `replacing`); stored in registry.json.
    public var staged: StagedUpgrade?

    public init(
        identifier: String, displayName: String, version: String, build: Int64, publisher: String, signed: Bool,
        state: ExtensionState, reason: String, capabilities: [String], source: String, storePath: String,
        contentDigest: String, installedAt: String
    ) {
        self.identifier = identifier
        self.displayName = displayName
        self.version = version
        self.build = build
        self.publisher = publisher
        self.signed = signed
        self.state = state
        self.reason = reason
        self.capabilities = capabilities
        self.source = source
        self.storePath = storePath
        self.contentDigest = contentDigest
        self.installedAt = installedAt
    }

    enum CodingKeys: String, CodingKey {
        case identifier, displayName, version, build, publisher, signed, state, reason, capabilities, source, storePath
        case contentDigest, installedAt, upgradePolicy, effectiveUpgradePolicy, staged
    }

    /// "1.2.3 (45)".
    public var versionDescription: String { "\(version) (\(build))" }
}

/// One thing garbage collection removed or would remove.
public struct Removal: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case storeCopy = "store_copy"
        case staging
        case orphanedRegistration = "orphaned_registration"
    }
    public var kind: Kind
    public var identifier: String?
    public var path: String
    public var reason: String

    public init(kind: Kind, identifier: String?, path: String, reason: String) {
        self.kind = kind
        self.identifier = identifier
        self.path = path
        self.reason = reason
    }
}

/// An install request left under `<state-dir>/spool/` while culvertd was not running (a deb's
/// postinst may run first); culvertd applies it at start with the same events as a live install.
public struct SpoolRequest: Codable, Sendable, Equatable {
    public static let directoryName = "spool"
    public var path: String
    public var allowDowngrade: Bool
    public var requestedAt: String
    public var requestedBy: Int64

    public init(path: String, allowDowngrade: Bool, requestedAt: String, requestedBy: Int64) {
        self.path = path
        self.allowDowngrade = allowDowngrade
        self.requestedAt = requestedAt
        self.requestedBy = requestedBy
    }
}
