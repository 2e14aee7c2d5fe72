// ConnectionBudget: who is at the other end of a server connection, and what that allows it to
// hold. The server's owner classifies a connection once, from its peer credentials, when it is
// accepted (contract 15); the class never changes for the connection's life.

import CulvertSystem

/// A connection's class, decided when it is accepted.
public enum VarlinkConnectionClass: String, Sendable, CaseIterable, Codable {
    /// uid 0: today's large limits, no idle deadline, and slots strangers cannot take.
    case admin
    /// A member of the group allowed to observe: small limits, slots of its own.
    case reader
    /// Everyone else: small limits, and only the slots nobody holds back.
    case other

    /// Without an owner's policy: root is the administrator and everyone else a stranger.
    public static func byUID(_ peer: PeerCredentials) -> VarlinkConnectionClass { peer.uid == 0 ? .admin : .other }
}

/// What one connection may hold.
public struct ConnectionBudget: Sendable, Equatable {
    /// Largest message it may send (JSON plus NUL).
    public var maximumMessageSize: Int
    /// Unread output it may have queued before it is dropped as too slow.
    public var maximumQueuedOutput: Int
    /// How long it may stay open with no call in progress; nil for as long as it likes.
    public var idleDeadline: Duration?

    public init(maximumMessageSize: Int, maximumQueuedOutput: Int, idleDeadline: Duration?) {
        self.maximumMessageSize = maximumMessageSize
        self.maximumQueuedOutput = maximumQueuedOutput
        self.idleDeadline = idleDeadline
    }
}

/// The connections of one class open now, and what they hold.
public struct VarlinkClassUsage: Sendable, Equatable {
    public var connections = 0
    /// Input buffered plus output queued, in bytes.
    public var heldBytes = 0
    public init() {}
}

/// A view of the server's budgets in use, counts only (no uid is named).
public struct VarlinkServerUsage: Sendable {
    public var limits: VarlinkLimits
    public var byClass: [VarlinkConnectionClass: VarlinkClassUsage]
}
