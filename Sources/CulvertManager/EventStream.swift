// EventStream: the sequenced event stream (contract 3) as one object that both ManagerService and
// the SessionSupervisor hold. Appending to the ring, encoding the event once and queueing it to
// every open Watch happen in one step on the manager queue, which is what makes seq exact; the
// cached GetStatus encodings live here because every event (and every counter change) voids them.
// Each event is encoded at most twice, once per view (`Audience`), and only for a view someone
// watches with.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import Dispatch

final class EventStream: @unchecked Sendable {  // confined to `queue`
    let queue: DispatchQueue
    private(set) var log: EventLog
    var subscribers = Subscribers()
    /// GetStatus's reply parameters per view, encoded once per state change: polling controllers
    /// should cost a copy, not a JSON encoding.
    private var encodedStatus: [Audience: [UInt8]] = [:]

    /// Told of every published event (ManagerMetrics counts them), on the queue.
    var observer: ((EventBody) -> Void)?

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
        encodedStatus = [:]
    }

    /// GetStatus's reply parameters as `audience` may see them, from the cache when the state
    /// has not changed since they were last encoded.
    func encodedStatus(for audience: Audience, _ status: () -> ManagerStatus) -> [UInt8] {
        dispatchPrecondition(condition: .onQueue(queue))
        if let cached = encodedStatus[audience] { return cached }
        let encoded = WireEncoding.encode(WireEncoding.StatusParameters(status: ReaderView.view(status(), for: audience)))
        encodedStatus[audience] = encoded
        return encoded
    }

    /// Records an event and queues it to every subscriber, in the same step.
    @discardableResult
    func publish(_ body: EventBody) -> Event {
        dispatchPrecondition(condition: .onQueue(queue))
        let event = log.append(body, time: WallClock.rfc3339Now())
        encodedStatus = [:]
        observer?(body)
        var frames: [Audience: [UInt8]] = [:]
        for (id, subscriber) in subscribers.all {
            let frame = frames[subscriber.audience] ?? WireEncoding.eventFrame(event, for: subscriber.audience)
            frames[subscriber.audience] = frame
            if !subscriber.replier.sendContinuation(frame: frame) {
                subscribers.remove(id)  // gone or dropped as too slow
            }
        }
        return event
    }

    /// The daemon_started event of a new process: recorded before anyone can watch.
    func record(_ body: EventBody) { _ = log.append(body, time: WallClock.rfc3339Now()) }
}
