// ManagerConfiguration: everything culvertd is told at start.

import CulvertCore
import CulvertVarlink

public struct ManagerConfiguration: Sendable {
    public static let socketName = "io.culvert.Manager"

    public var stateDirectory = "/var/lib/culvert"
    public var runtimeDirectory = "/run/culvert"
    public var configDirectory = "/etc/culvert"
    /// Members of this group may observe (Ping, GetStatus, Watch).
    public var readerGroup = "culvert"
    /// How many events are kept for replay.
    public var eventCapacity = EventLog.defaultCapacity
    public var limits = VarlinkLimits()
    public var version = CulvertVersion.current

    public init() {}

    public var socketPath: String { runtimeDirectory + "/" + Self.socketName }
}

public enum CulvertVersion {
    public static let current = "0.1.0"
}
