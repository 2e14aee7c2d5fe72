// ConnectionLimits: the control socket's budgets by identity (contract 15) and their use now, as
// GetStatus reports them beside the status. Counts and byte totals by class only: no caller is named.

/// What one class of caller may hold per connection, and what its connections hold now.
public struct ConnectionClassUse: Codable, Sendable, Equatable {
    /// Largest message a connection of this class may send (JSON plus NUL).
    public var maximumMessageSize: Int64
    /// Unread output a connection of this class may have queued before it is dropped.
    public var maximumQueuedOutput: Int64
    /// Seconds a connection may stay open with no call in progress; nil: no limit.
    public var idleDeadlineSeconds: Double?
    /// Connections of this class open now.
    public var connections: Int64
    /// Bytes their input buffers and output queues hold now.
    public var bufferedBytes: Int64

    public init(
        maximumMessageSize: Int64, maximumQueuedOutput: Int64, idleDeadlineSeconds: Double?, connections: Int64, bufferedBytes: Int64
    ) {
        self.maximumMessageSize = maximumMessageSize
        self.maximumQueuedOutput = maximumQueuedOutput
        self.idleDeadlineSeconds = idleDeadlineSeconds
        self.connections = connections
        self.bufferedBytes = bufferedBytes
    }
}

/// The limits in force on the control socket and their use now.
public struct ConnectionLimits: Codable, Sendable, Equatable {
    public var maximumConnections: Int64
    public var maximumConnectionsPerUser: Int64
    /// Slots only uid 0 may take.
    public var reservedForAdmin: Int64
    /// Slots only uid 0 or a reader may take.
    public var reservedForReaders: Int64
    /// Bytes one non-root uid's connections may hold together.
    public var perUserMemoryBudget: Int64
    /// Bytes all strangers' connections may hold together.
    public var otherMemoryBudget: Int64
    /// Seconds a message may stay unfinished before its connection is closed.
    public var partialMessageDeadlineSeconds: Double
    public var admin: ConnectionClassUse
    public var reader: ConnectionClassUse
    public var other: ConnectionClassUse

    public init(
        maximumConnections: Int64, maximumConnectionsPerUser: Int64, reservedForAdmin: Int64, reservedForReaders: Int64,
        perUserMemoryBudget: Int64, otherMemoryBudget: Int64, partialMessageDeadlineSeconds: Double, admin: ConnectionClassUse,
        reader: ConnectionClassUse, other: ConnectionClassUse
    ) {
        self.maximumConnections = maximumConnections
        self.maximumConnectionsPerUser = maximumConnectionsPerUser
        self.reservedForAdmin = reservedForAdmin
        self.reservedForReaders = reservedForReaders
        self.perUserMemoryBudget = perUserMemoryBudget
        self.otherMemoryBudget = otherMemoryBudget
        self.partialMessageDeadlineSeconds = partialMessageDeadlineSeconds
        self.admin = admin
        self.reader = reader
        self.other = other
    }
}
