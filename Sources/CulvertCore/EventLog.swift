// EventLog: the sequenced event stream's memory — a bounded ring and the resume decision.

/// How a `Watch(since, epoch)` subscriber is brought up to date.
public enum ResumePlan: Sendable, Equatable {
    /// Send these stored events (possibly none), then live ones.
    case replay([Event])
    /// The position cannot be served from the ring: send one snapshot, then live events.
    case snapshot(SnapshotReason)
}

public enum SnapshotReason: String, Sendable, Codable {
    /// The client gave no position.
    case noPosition = "no_position"
    /// The position belongs to another epoch (the daemon restarted and state may have changed).
    case otherEpoch = "other_epoch"
    /// The position is older than the oldest event still held.
    case tooOld = "too_old"
    /// The position is ahead of the stream: a client bug or another daemon's numbers.
    case ahead
}

/// The last `capacity` events of one epoch. A value type: the manager owns it and does the I/O.
public struct EventLog: Sendable {
    public static let defaultCapacity = 4096

    public let epoch: String
    public let capacity: Int
    /// Seq of the newest event; 0 before the first.
    public private(set) var lastSeq: Int64
    private var ring: [Event] = []
    private var head = 0  // index of the oldest event once the ring is full

    public init(epoch: String, capacity: Int = defaultCapacity, startingAfter seq: Int64 = 0) {
        precondition(capacity > 0, "an event log needs room for at least one event")
        self.epoch = epoch
        self.capacity = capacity
        self.lastSeq = seq
        ring.reserveCapacity(min(capacity, 1024))
    }

    /// The log a re-executed daemon carries on with: same epoch, the same held events (oldest
    /// first, consecutive seqs ending at `lastSeq`), so positions stay valid across the exec.
    public init(restoring events: [Event], epoch: String, capacity: Int, lastSeq: Int64) {
        self.init(epoch: epoch, capacity: capacity, startingAfter: lastSeq)
        ring = Array(events.suffix(capacity))
        head = 0
    }

    /// Every held event, oldest first.
    public var heldEvents: [Event] { events(after: oldestSeq - 1) }

    /// Appends an event with the next seq and returns it.
    public mutating func append(_ body: EventBody, time: String) -> Event {
        lastSeq += 1
        let event = Event(seq: lastSeq, epoch: epoch, time: time, body: body)
        if ring.count < capacity {
            ring.append(event)
        } else {
            ring[head] = event
            head = (head + 1) % capacity
        }
        return event
    }

    /// Seq of the oldest event still held; `lastSeq + 1` when none is.
    public var oldestSeq: Int64 { lastSeq - Int64(ring.count) + 1 }

    /// Decides between replay and snapshot for a subscriber that last saw `since` in `epoch`.
    public func resume(since: Int64?, epoch clientEpoch: String?) -> ResumePlan {
        guard let since, let clientEpoch else { return .snapshot(.noPosition) }
        guard clientEpoch == epoch else { return .snapshot(.otherEpoch) }
        guard since <= lastSeq else { return .snapshot(.ahead) }
        // since == oldestSeq - 1 is still servable: every event after it is held.
        guard since >= oldestSeq - 1 else { return .snapshot(.tooOld) }
        return .replay(events(after: since))
    }

    /// Held events with seq > `seq`, oldest first.
    public func events(after seq: Int64) -> [Event] {
        let skip = Int(max(0, seq - oldestSeq + 1))
        guard skip < ring.count else { return [] }
        var result: [Event] = []
        result.reserveCapacity(ring.count - skip)
        for i in skip..<ring.count { result.append(ring[(head + i) % ring.count]) }
        return result
    }
}
