// EventStream: the sequenced event stream (contract 3) as one object that both ManagerService and
// the SessionSupervisor hold. Appending to the ring, encoding the event once and queueing it to
// every open Watch happen in one step on the manager queue, which is what makes seq exact; the
// cached GetStatus encoding lives here because every event (and every counter change) voids it.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import Dispatch

final class EventStream: @unchecked Sendable {  // confined to `queue`
    let queue: DispatchQueue
    private(set) var log: EventLog
    var subscribers = Subscribers()
    /// GetStatus's reply parameters, encoded once per state change: polling controllers should
    /// cost a copy, not a JSON encoding.
    var encodedStatus: [UInt8]?

    init(log: EventLog, queue: DispatchQueue) {
        self.log = log
        self.queue = queue
    }

    var lastSeq: Int64 { log.lastSeq }

    /// Whether anyone is watching (session_stats are only produced then).
    var hasWatchers: Bool { subscribers.count > 0 }

    /// Status changed without an event (settings, counters): the cached encoding is void.
    func statusChanged() {
        dispatchPrecondition(condition: .onQueue(queue))
        encodedStatus = nil
    }

    /// Records an event and queues it to every subscriber, in the same step.
    @discardableResult
    func publish(_ body: EventBody) -> Event {
        dispatchPrecondition(condition: .onQueue(queue))
        let event = log.append(body, time: WallClock.rfc3339Now())
        encodedStatus = nil
        let frame = WireEncoding.eventFrame(event)
        for (id, replier) in subscribers.repliers where !replier.sendContinuation(frame: frame) {
            subscribers.remove(id)  // gone or dropped as too slow
        }
        return event
    }

    /// The daemon_started event of a new process: recorded before anyone can watch.
    func record(_ body: EventBody) { _ = log.append(body, time: WallClock.rfc3339Now()) }
}
