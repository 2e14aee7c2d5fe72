// ManagerReplies: the typed results of io.culvert.Manager calls that return more than one value.

import CulvertCore

/// What `Ping` reports: the daemon is alive and serving, at this point of its event stream.
public struct PingReply: Codable, Sendable, Equatable {
    public var version: String
    public var epoch: String
    /// Seq of the newest event in `epoch`.
    public var seq: Int64

    public init(version: String, epoch: String, seq: Int64) {
        self.version = version
        self.epoch = epoch
        self.seq = seq
    }

    enum CodingKeys: String, CodingKey {
        case version, epoch, seq
    }
}

/// What `SaveProfile` reports: the profile as stored, whether it was new, and its event's seq.
public struct SavedProfile: Codable, Sendable, Equatable {
    public var profile: Profile
    /// True if the save created the profile, false if it replaced one.
    public var created: Bool
    /// Seq of the `profile_saved` event the save produced.
    public var seq: Int64

    public init(profile: Profile, created: Bool, seq: Int64) {
        self.profile = profile
        self.created = created
        self.seq = seq
    }

    enum CodingKeys: String, CodingKey {
        case profile, created, seq
    }
}
