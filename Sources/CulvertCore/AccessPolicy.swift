// AccessPolicy: who may call what on io.culvert.Manager. Pure, so it is tested exhaustively.

/// The caller as the kernel reported it.
public struct Caller: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    public init(uid: UInt32, gid: UInt32, groups: [UInt32]) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }
}

public enum AccessLevel: String, Sendable, Codable {
    /// uid 0: everything.
    case admin
    /// Member of the reader group: observe only.
    case reader
    case none
}

public struct AccessPolicy: Sendable {
    /// Methods that only observe state.
    public static let readMethods: Set<String> = ["Ping", "GetStatus", "Watch", "ListExtensions", "GetMetrics"]

    /// gid of the reader group, or nil when that group does not exist (then only root has access).
    public var readerGroupID: UInt32?

    public init(readerGroupID: UInt32?) { self.readerGroupID = readerGroupID }

    public func level(of caller: Caller) -> AccessLevel {
        if caller.uid == 0 { return .admin }
        if let gid = readerGroupID, caller.gid == gid || caller.groups.contains(gid) { return .reader }
        return .none
    }

    public func allows(_ caller: Caller, method: String) -> Bool {
        switch level(of: caller) {
        case .admin: return true
        case .reader: return Self.readMethods.contains(method)
        case .none: return false
        }
    }
}
