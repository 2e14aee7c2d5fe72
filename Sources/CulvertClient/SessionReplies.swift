// SessionReplies: the typed results of io.culvert.Manager's session methods.

import CulvertCore

/// What `Connect` and `Disconnect` report: the session as it is now, and the seq of the event
/// the change produced (the daemon's latest seq when nothing changed).
public struct SessionChange: Codable, Sendable, Equatable {
    public var session: SessionInfo
    public var seq: Int64

    public init(session: SessionInfo, seq: Int64) {
        self.session = session
        self.seq = seq
    }

    enum CodingKeys: String, CodingKey {
        case session, seq
    }
}

/// What `GetSessionLog` reports: the provider's output lines, oldest first.
public struct SessionLog: Codable, Sendable, Equatable {
    public var lines: [String]
    /// True when older lines exist than those returned (dropped by `limit` or by culvertd's bound).
    public var truncated: Bool

    public init(lines: [String], truncated: Bool) {
        self.lines = lines
        self.truncated = truncated
    }

    enum CodingKeys: String, CodingKey {
        case lines, truncated
    }
}
