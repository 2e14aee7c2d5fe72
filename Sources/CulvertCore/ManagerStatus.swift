// ManagerStatus: the daemon's whole observable state, as GetStatus and snapshot events carry it.

/// Identity of the running daemon.
public struct DaemonInfo: Codable, Sendable, Equatable {
    public var version: String
    public var pid: Int64
    /// Changes when state could have been lost (a new daemon start); see contract 3.
    public var epoch: String
    public var startedAt: String

    public init(version: String, pid: Int64, epoch: String, startedAt: String) {
        self.version = version
        self.pid = pid
        self.epoch = epoch
        self.startedAt = startedAt
    }
}

/// Something wrong the daemon found and did not silently repair, e.g. a corrupt state file.
public struct Problem: Codable, Sendable, Equatable {
    public var kind: String
    public var path: String
    public var description: String
    /// Where the damaged file was moved, so nothing is lost.
    public var movedTo: String?

    public init(kind: ProblemKind, path: String, description: String, movedTo: String?) {
        self.init(kind: kind.rawValue, path: path, description: description, movedTo: movedTo)
    }

    public init(kind: String, path: String, description: String, movedTo: String?) {
        self.kind = kind
        self.path = path
        self.description = description
        self.movedTo = movedTo
    }
}

/// The kinds of `Problem` culvertd reports (the wire carries the raw value).
public enum ProblemKind: String, Sendable, CaseIterable {
    /// A profile file that does not decode or validate; moved aside.
    case corruptProfile = "corrupt_profile"
    /// A FIFO, symlink, directory, device or socket where a state file belongs; moved aside, never followed or opened.
    case notARegularFile = "not_a_regular_file"
    /// `registry.json` was missing or unreadable and was rebuilt from the verified store copies
    /// (an unreadable one moved aside first).
    case registryRebuilt = "registry_rebuilt"
    /// A store copy that could not be registered while rebuilding the registry (it is kept).
    case storeCopyUnusable = "store_copy_unusable"
    /// An installed extension this daemon cannot run (for example it needs a newer culvertd); nothing was deleted.
    case extensionNotUsable = "extension_not_usable"
    /// A spooled install request that does not decode; moved aside.
    case corruptSpoolRequest = "corrupt_spool_request"
    /// A kill switch held by a crashed culvertd for a profile that no longer exists (or whose hold
    /// record is gone); its rules were removed at start.
    case staleKillSwitch = "stale_kill_switch"
}

public struct ManagerStatus: Codable, Sendable, Equatable {
    public var daemon: DaemonInfo
    /// The seq of the last event this state includes.
    public var seq: Int64
    public var profiles: [Profile]
    public var extensions: [ExtensionInfo]
    /// Unsigned bundles are accepted (policy developerMode); every listing says so.
    public var developerMode: Bool
    /// One per profile that was connected since the daemon started, sorted by profile name.
    public var sessions: [SessionInfo]
    public var problems: [Problem]
    /// How providers are contained here (absent from daemons that predate containment).
    public var containment: ContainmentInfo?

    public init(
        daemon: DaemonInfo, seq: Int64, profiles: [Profile], extensions: [ExtensionInfo] = [], developerMode: Bool = false,
        sessions: [SessionInfo] = [], problems: [Problem], containment: ContainmentInfo? = nil
    ) {
        self.daemon = daemon
        self.seq = seq
        self.profiles = profiles
        self.extensions = extensions
        self.developerMode = developerMode
        self.sessions = sessions
        self.problems = problems
        self.containment = containment
    }
}
