// VarlinkLimits: every bound the varlink server enforces, in one place.

/// Bounds that keep one client from exhausting the daemon. Defaults follow systemd's sd-varlink.
public struct VarlinkLimits: Sendable {
    /// Largest message (JSON plus NUL) accepted or sent: 16 MiB, as sd-varlink.
    public static let defaultMaximumMessageSize = 16 << 20
    /// Deepest JSON nesting accepted in a message.
    public static let defaultMaximumDepth = 64
    /// Connections open at once, all users together.
    public static let defaultMaximumConnections = 4096
    /// Connections open at once by one uid.
    public static let defaultMaximumConnectionsPerUser = 1024
    /// Bytes queued for one connection that it has not read yet; past this a subscriber is too slow.
    public static let defaultMaximumQueuedOutput = 4 << 20
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

    public init() {}
}
