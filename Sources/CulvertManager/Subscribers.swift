// Subscribers: the Watch streams currently open, and fan-out of each event to them.

import CulvertCore
import CulvertVarlink

/// Open Watch calls by connection, each with the view of events its caller may see.
/// Confined to the manager queue by its owner: a value ManagerService holds, which checks the queue at its entries.
struct Subscribers {
    struct Subscriber {
        var replier: VarlinkReplier
        var audience: Audience
    }

    private var byConnection: [UInt64: Subscriber] = [:]

    var count: Int { byConnection.count }

    mutating func add(_ connectionID: UInt64, _ replier: VarlinkReplier, audience: Audience) {
        byConnection[connectionID] = Subscriber(replier: replier, audience: audience)
    }

    mutating func remove(_ connectionID: UInt64) { byConnection[connectionID] = nil }

    /// The open streams, copied: sending may drop a slow subscriber, whose cancellation removes
    /// it from this collection, so callers must not iterate the collection itself while sending.
    var all: [(UInt64, Subscriber)] { byConnection.map { ($0.key, $0.value) } }
}
