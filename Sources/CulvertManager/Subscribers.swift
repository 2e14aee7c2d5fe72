// Subscribers: the Watch streams currently open, and fan-out of each event to them.

import CulvertCore
import CulvertVarlink

/// Open Watch calls by connection.
/// Confined to the manager queue by its owner: a value ManagerService holds, which checks the queue at its entries.
struct Subscribers {
    private var byConnection: [UInt64: VarlinkReplier] = [:]

    var count: Int { byConnection.count }

    mutating func add(_ connectionID: UInt64, _ replier: VarlinkReplier) { byConnection[connectionID] = replier }

    mutating func remove(_ connectionID: UInt64) { byConnection[connectionID] = nil }

    /// The open streams, copied: sending may drop a slow subscriber, whose cancellation removes
    /// it from this collection, so callers must not iterate the collection itself while sending.
    var repliers: [(UInt64, VarlinkReplier)] { byConnection.map { ($0.key, $0.value) } }
}
