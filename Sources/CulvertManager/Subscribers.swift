// Subscribers: the Watch streams currently open, and fan-out of each event to them.

import CulvertCore
import CulvertVarlink

/// Open Watch calls by connection. Confined to the manager queue.
struct Subscribers {
    private var byConnection: [UInt64: VarlinkReplier] = [:]

    var count: Int { byConnection.count }

    mutating func add(_ connectionID: UInt64, _ replier: VarlinkReplier) { byConnection[connectionID] = replier }

    mutating func remove(_ connectionID: UInt64) { byConnection[connectionID] = nil }

    /// Queues one pre-encoded frame to everyone; drops those whose connection is gone or too slow.
    mutating func broadcast(_ frame: [UInt8]) {
        var gone: [UInt64] = []
        for (id, replier) in byConnection where !replier.sendContinuation(frame: frame) { gone.append(id) }
        for id in gone { byConnection[id] = nil }
    }
}
