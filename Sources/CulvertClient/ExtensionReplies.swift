// ExtensionReplies: the typed results of io.culvert.Manager's extension methods.

import CulvertCore

/// What `InstallExtension` reports: what happened, the extension as now registered, and the
/// seq of the event the install produced (for `unchanged`, which produces none, the daemon's
/// latest seq).
public struct InstallResult: Codable, Sendable, Equatable {
    /// Contract 6's answers to an install that was accepted.
    public enum Outcome: String, Codable, Sendable {
        /// Nothing of this identifier was installed.
        case installed
        /// Another version of the same publisher's extension was installed and is now replaced.
        case replaced
        /// The same version and build are already installed; nothing changed.
        case unchanged
        /// Sessions run the extension and its upgrade policy is not `now`: the new version is
        /// recorded as `staged` (state `replacing`) and replaces the running one when the policy says.
        case staged
    }

    public var result: Outcome
    public var extensionInfo: ExtensionInfo
    public var seq: Int64

    public init(result: Outcome, extensionInfo: ExtensionInfo, seq: Int64) {
        self.result = result
        self.extensionInfo = extensionInfo
        self.seq = seq
    }

    enum CodingKeys: String, CodingKey {
        case result, seq
        case extensionInfo = "extension"
    }
}

/// What `ApproveExtension` reports.
public struct ApprovalResult: Codable, Sendable, Equatable {
    public var extensionInfo: ExtensionInfo
    /// False if the extension was already enabled: approving it again changes nothing.
    public var changed: Bool
    /// Seq of the `extension_approved` event, or the daemon's latest seq when nothing changed.
    public var seq: Int64

    public init(extensionInfo: ExtensionInfo, changed: Bool, seq: Int64) {
        self.extensionInfo = extensionInfo
        self.changed = changed
        self.seq = seq
    }

    enum CodingKeys: String, CodingKey {
        case changed, seq
        case extensionInfo = "extension"
    }
}

/// What `CollectGarbage` removed, or would remove in a dry run.
public struct GarbageCollection: Codable, Sendable, Equatable {
    public var removals: [Removal]
    /// Seq of the `garbage_collected` event; the daemon's latest seq for a dry run or when
    /// there was nothing to remove (neither produces an event).
    public var seq: Int64

    public init(removals: [Removal], seq: Int64) {
        self.removals = removals
        self.seq = seq
    }

    enum CodingKeys: String, CodingKey {
        case removals, seq
    }
}

/// How an install request ended when culvertd might not be running (`installExtensionOrSpool`).
public enum InstallRequestOutcome: Sendable, Equatable {
    /// culvertd answered; this is its reply.
    case applied(InstallResult)
    /// culvertd was not running: the request waits in its spool and is applied (with the same
    /// events as a live install, or an `extension_install_failed` event) when it starts.
    case spooled(SpooledInstall)
}

/// An install request written to culvertd's spool.
public struct SpooledInstall: Codable, Sendable, Equatable {
    /// The spool file holding `request`.
    public var file: String
    public var request: SpoolRequest

    public init(file: String, request: SpoolRequest) {
        self.file = file
        self.request = request
    }

    enum CodingKeys: String, CodingKey {
        case file, request
    }
}

/// What `UpgradeExtension` and `CancelUpgrade` report: the extension as it is now, and the seq of
/// the event (`extension_replaced`, `upgrade_cancelled`).
public struct StagedUpgradeResult: Codable, Sendable, Equatable {
    public var extensionInfo: ExtensionInfo
    public var seq: Int64

    public init(extensionInfo: ExtensionInfo, seq: Int64) {
        self.extensionInfo = extensionInfo
        self.seq = seq
    }

    enum CodingKeys: String, CodingKey {
        case seq
        case extensionInfo = "extension"
    }
}
