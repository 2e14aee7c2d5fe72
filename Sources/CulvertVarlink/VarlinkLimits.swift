// VarlinkLimits: every bound the varlink server enforces, in one place.

/// Bounds that keep one client from exhausting the daemon. Defaults follow systemd's sd-varlink;
/// the budgets by class (contract 15) are Culvert's: an administrator keeps the large limits,
/// everyone else gets small ones, and slots are held back so strangers can never fill them all.
public struct VarlinkLimits: Sendable {
    /// Largest message (JSON plus NUL) accepted or sent: 16 MiB, as sd-varlink.
    public static let defaultMaximumMessageSize = 16 << 20
    /// Largest message a reader or a stranger may send: 64 KiB. What they may call takes no
    /// parameters worth the name (Ping, GetStatus, Watch's position, ListExtensions,
    /// org.varlink.service's interface name); replies to them are not bound by it.
    public static let unprivilegedMaximumMessageSize = 64 << 10
    /// Deepest JSON nesting accepted in a message.
    public static let defaultMaximumDepth = 64
    /// Connections open at once, all users together.
    public static let defaultMaximumConnections = 4096
    /// Connections open at once by one uid.
    public static let defaultMaximumConnectionsPerUser = 1024
    /// Slots of `maximumConnections` only an administrator may take.
    public static let defaultReservedAdminConnections = 16
    /// Slots of `maximumConnections` only an administrator or a reader may take.
    public static let defaultReservedReaderConnections = 16
    /// Bytes queued for one connection that it has not read yet; past this a subscriber is too slow.
    public static let defaultMaximumQueuedOutput = 4 << 20
    /// Unread output a reader's connection may have queued: room for a Watch's replay burst.
    public static let readerMaximumQueuedOutput = 1 << 20
    /// Unread output a stranger's connection may have queued: it only ever gets errors and
    /// org.varlink.service replies (one frame always fits an empty queue).
    public static let otherMaximumQueuedOutput = 64 << 10
    /// Bytes one unprivileged uid may hold in culvertd across all its connections (input
    /// buffered plus output queued).
    public static let defaultPerUserMemoryBudget = 4 << 20
    /// Bytes all strangers together may hold, so many uids cannot add up what one may not.
    public static let defaultOtherMemoryBudget = 16 << 20
    /// How long a message may stay unfinished (bytes without their NUL) before the connection
    /// is closed. A local client writes a whole message at once.
    public static let defaultPartialMessageDeadline: Duration = .seconds(10)
    /// How long a reader's or stranger's connection may stay open with no call in progress
    /// (an open Watch is a call). Every client call opens its own connection.
    public static let defaultIdleDeadline: Duration = .seconds(60)
    /// How long a connection being dropped for overflow may take to read its final error. Only
    /// that one small frame is held meanwhile, so this can be generous.
    public static let overflowGrace: Duration = .seconds(5)
    /// Size of each read from a connection.
    public static let readChunkSize = 64 << 10

    public var maximumMessageSize = defaultMaximumMessageSize
    public var maximumDepth = defaultMaximumDepth
    public var maximumConnections = defaultMaximumConnections
    public var maximumConnectionsPerUser = defaultMaximumConnectionsPerUser
    public var maximumQueuedOutput = defaultMaximumQueuedOutput
    public var reservedAdminConnections = defaultReservedAdminConnections
    public var reservedReaderConnections = defaultReservedReaderConnections
    public var perUserMemoryBudget = defaultPerUserMemoryBudget
    public var otherMemoryBudget = defaultOtherMemoryBudget
    public var partialMessageDeadline = defaultPartialMessageDeadline
    public var idleDeadline = defaultIdleDeadline

    public init() {}

    /// What one connection of `connectionClass` may hold.
    public func budget(for connectionClass: VarlinkConnectionClass) -> ConnectionBudget {
        switch connectionClass {
        case .admin:
            return ConnectionBudget(maximumMessageSize: maximumMessageSize, maximumQueuedOutput: maximumQueuedOutput, idleDeadline: nil)
        case .reader:
            return ConnectionBudget(
                maximumMessageSize: min(maximumMessageSize, Self.unprivilegedMaximumMessageSize),
                maximumQueuedOutput: min(maximumQueuedOutput, Self.readerMaximumQueuedOutput), idleDeadline: idleDeadline)
        case .other:
            return ConnectionBudget(
                maximumMessageSize: min(maximumMessageSize, Self.unprivilegedMaximumMessageSize),
                maximumQueuedOutput: min(maximumQueuedOutput, Self.otherMaximumQueuedOutput), idleDeadline: idleDeadline)
        }
    }

    /// How many connections, all classes together, may be open for a new one of
    /// `connectionClass` to be admitted: the reserved slots are out of reach of the classes below.
    public func connectionCeiling(for connectionClass: VarlinkConnectionClass) -> Int {
        switch connectionClass {
        case .admin: return maximumConnections
        case .reader: return max(0, maximumConnections - reservedAdminConnections)
        case .other: return max(0, maximumConnections - reservedAdminConnections - reservedReaderConnections)
        }
    }
}
