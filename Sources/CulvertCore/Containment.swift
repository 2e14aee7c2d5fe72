// Containment: how culvertd contains providers on this system, and how one session's provider is
// contained (contract 8: a provider holds its TUN and its channel, nothing else). GetStatus reports
// both so an operator sees what is actually enforced here rather than what was hoped for.

/// The containment culvertd detected and enforces for every session (GetStatus `containment`).
public struct ContainmentInfo: Codable, Sendable, Equatable {
    /// The uid/gid range each session's provider gets its own identity from ("90000-99999").
    public var identities: String
    /// cgroup_v2, hybrid, legacy or none.
    public var cgroups: String
    /// Limits enforceable here: "tasks", "memory".
    public var limits: [String]
    /// What a session gets when its manifest declares nothing.
    public var tasksMax: Int64?
    public var memoryMax: Int64?
    /// notify (refused calls fail with EPERM and are counted) or none.
    public var seccomp: String
    /// One line for people; may name cgroup paths (withheld from readers).
    public var description: String

    public init(
        identities: String, cgroups: String, limits: [String], tasksMax: Int64?, memoryMax: Int64?, seccomp: String,
        description: String
    ) {
        self.identities = identities
        self.cgroups = cgroups
        self.limits = limits
        self.tasksMax = tasksMax
        self.memoryMax = memoryMax
        self.seccomp = seccomp
        self.description = description
    }
}

/// How one session's provider is contained, and what it uses now (Session `containment`).
public struct SessionContainment: Codable, Sendable, Hashable {
    /// Most system-call names `deniedCallNames` carries.
    public static let maximumDeniedCallNames = 8

    /// The session's cgroup, as a path in the cgroup2 hierarchy (a path: withheld from readers).
    public var cgroup: String?
    public var tasksMax: Int64?
    public var memoryMax: Int64?
    /// Tasks in the cgroup and memory charged to it now, while the session runs.
    public var tasks: Int64?
    public var memoryBytes: Int64?
    /// System calls the filter refused (each failed with EPERM).
    public var deniedCalls: Int64
    /// The most recent distinct refused calls, newest last.
    public var deniedCallNames: [String]

    public init(
        cgroup: String? = nil, tasksMax: Int64? = nil, memoryMax: Int64? = nil, tasks: Int64? = nil, memoryBytes: Int64? = nil,
        deniedCalls: Int64 = 0, deniedCallNames: [String] = []
    ) {
        self.cgroup = cgroup
        self.tasksMax = tasksMax
        self.memoryMax = memoryMax
        self.tasks = tasks
        self.memoryBytes = memoryBytes
        self.deniedCalls = deniedCalls
        self.deniedCallNames = deniedCallNames
    }
}
