// Event: one state change on the status channel, as every subscriber receives it.

/// The kind of an event. Open-ended on purpose: clients must ignore kinds they do not know,
/// so the daemon can add kinds without breaking older tools.
public struct EventKind: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    public var description: String { rawValue }

    public static let daemonStarted = EventKind(rawValue: "daemon_started")
    public static let profileSaved = EventKind(rawValue: "profile_saved")
    public static let profileRemoved = EventKind(rawValue: "profile_removed")
    public static let extensionInstalled = EventKind(rawValue: "extension_installed")
    public static let extensionReplaced = EventKind(rawValue: "extension_replaced")
    public static let extensionApproved = EventKind(rawValue: "extension_approved")
    public static let extensionUninstalled = EventKind(rawValue: "extension_uninstalled")
    public static let extensionInstallFailed = EventKind(rawValue: "extension_install_failed")
    public static let garbageCollected = EventKind(rawValue: "garbage_collected")
    /// culvertd is about to re-exec (`reason`); the channel stays open and continues with `daemon_back`.
    public static let daemonGoingAway = EventKind(rawValue: "daemon_going_away")
    /// culvertd is back after a re-exec: `daemon` is the new process image, `previousVersion` the old one.
    public static let daemonBack = EventKind(rawValue: "daemon_back")
    /// A session changed state; `session`, `previousState` and `reason` say how.
    public static let sessionState = EventKind(rawValue: "session_state")
    /// Something other than culvertd changed a session's interface (`reason`: link_down,
    /// link_deleted, mtu_changed, address_removed, address_added); `error` describes it.
    public static let sessionNetworkChanged = EventKind(rawValue: "session_network_changed")
    /// Fresh link counters of a session, sent periodically while anyone watches.
    public static let sessionStats = EventKind(rawValue: "session_stats")
    /// A live upgrade began handing a connected session over to the new version (make-before-break):
    /// `session`, `extension` (the new version), `previousVersion` (the running one).
    public static let handoverStarted = EventKind(rawValue: "handover_started")
    /// The new version took the session over; the old one was stopped (superseded). `reason`:
    /// handover, or restart for a provider without handover (stop → start, `reasserting` meanwhile).
    public static let handoverCompleted = EventKind(rawValue: "handover_completed")
    /// A live upgrade was abandoned: the old version still runs and stays installed. `reason` says
    /// why (spawn_failed, new_provider_exited, prepare_failed, import_failed, health_timeout,
    /// session_changed), `error` describes it, `log` holds the new version's last output lines.
    public static let upgradeFailed = EventKind(rawValue: "upgrade_failed")
    /// A newer version was staged instead of applied: sessions run the extension and its upgrade
    /// policy is not `now`. `extension` is the entry (state `replacing`, `staged`, the policy).
    public static let upgradePending = EventKind(rawValue: "upgrade_pending")
    /// A staged version was dropped: by CancelUpgrade (`actor`, reason `cancelled`) or because
    /// applying it failed (reason `upgrade_failed`). `extension` is the entry as it is now.
    public static let upgradeCancelled = EventKind(rawValue: "upgrade_cancelled")
    /// The administrator set an extension's upgrade policy: `extension` as it is now, `reason`
    /// the policy in force, `actor`.
    public static let upgradePolicyChanged = EventKind(rawValue: "upgrade_policy_changed")
    /// Not a stored event: the full state at position `seq`, sent when replay is impossible.
    public static let snapshot = EventKind(rawValue: "snapshot")
}

/// Who caused a change, as the kernel identified the caller (SO_PEERCRED).
public struct Actor: Codable, Sendable, Equatable {
    public var uid: Int64
    public var pid: Int64
    public var command: String?
    public init(uid: Int64, pid: Int64, command: String?) {
        self.uid = uid
        self.pid = pid
        self.command = command
    }
}

/// The kind-specific part of an event, before it gets its place in the stream.
public struct EventBody: Sendable, Equatable {
    public var kind: EventKind
    public var actor: Actor?
    public var profile: Profile?
    public var name: String?
    public var created: Bool?
    public var daemon: DaemonInfo?
    public var reason: String?
    public var extensionInfo: ExtensionInfo?
    public var previousVersion: String?
    public var error: String?
    public var removals: [Removal]?
    public var session: SessionInfo?
    public var previousState: SessionState?
    /// A provider's last output lines (upgrade_failed).
    public var log: [String]?

    public init(
        kind: EventKind, actor: Actor? = nil, profile: Profile? = nil, name: String? = nil, created: Bool? = nil,
        daemon: DaemonInfo? = nil, reason: String? = nil, extensionInfo: ExtensionInfo? = nil, previousVersion: String? = nil,
        error: String? = nil, removals: [Removal]? = nil, session: SessionInfo? = nil, previousState: SessionState? = nil,
        log: [String]? = nil
    ) {
        self.kind = kind
        self.actor = actor
        self.profile = profile
        self.name = name
        self.created = created
        self.daemon = daemon
        self.reason = reason
        self.extensionInfo = extensionInfo
        self.previousVersion = previousVersion
        self.error = error
        self.removals = removals
        self.session = session
        self.previousState = previousState
        self.log = log
    }
}

/// An event on the wire: `{seq, epoch, time, kind, …}`.
///
/// `seq` grows by exactly one per event within an `epoch`. A `snapshot` carries the `seq` of the
/// last event its `status` includes; the next live event has `seq + 1`.
public struct Event: Codable, Sendable, Equatable {
    public var seq: Int64
    public var epoch: String
    /// RFC 3339, UTC, milliseconds.
    public var time: String
    public var kind: EventKind
    public var actor: Actor?
    public var profile: Profile?
    public var name: String?
    public var created: Bool?
    public var daemon: DaemonInfo?
    public var reason: String?
    public var extensionInfo: ExtensionInfo?
    public var previousVersion: String?
    public var error: String?
    public var removals: [Removal]?
    public var session: SessionInfo?
    public var previousState: SessionState?
    public var log: [String]?
    /// Present on `snapshot` events only.
    public var status: ManagerStatus?

    public init(seq: Int64, epoch: String, time: String, body: EventBody, status: ManagerStatus? = nil) {
        self.seq = seq
        self.epoch = epoch
        self.time = time
        self.kind = body.kind
        self.actor = body.actor
        self.profile = body.profile
        self.name = body.name
        self.created = body.created
        self.daemon = body.daemon
        self.reason = body.reason
        self.extensionInfo = body.extensionInfo
        self.previousVersion = body.previousVersion
        self.error = body.error
        self.removals = body.removals
        self.session = body.session
        self.previousState = body.previousState
        self.log = body.log
        self.status = status
    }

    enum CodingKeys: String, CodingKey {
        case seq, epoch, time, kind, actor, profile, name, created, daemon, reason, status, previousVersion, error, removals, session,
            previousState, log
        case extensionInfo = "extension"
    }
}
