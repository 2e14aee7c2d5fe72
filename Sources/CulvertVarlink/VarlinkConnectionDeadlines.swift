// VarlinkConnectionDeadlines: when a server connection must be closed for being stuck — a message
// left unfinished, or no call for too long. A value type: the connection feeds it what happened
// and arms one Dispatch timer for `next`; when the timer fires, `expired(at:)` says which
// deadline passed (a stale timer finds none and is simply re-armed).
//
//   partial message: runs from the first byte of a message whose NUL has not arrived; a new
//                    message restarts it, a complete one stops it. Trickling does not extend it.
//   idle:            runs while no call is in progress (from the start, and from each final
//                    reply); only for classes that have one. An open `more` call is not idle,
//                    and neither is a message arriving: while one is unfinished, only the
//                    partial-message deadline applies.

/// The deadlines of one connection.
struct VarlinkConnectionDeadlines {
    enum Expiry: Equatable {
        case partialMessage
        case idle
    }

    let partialMessageLimit: Duration
    let idleLimit: Duration?

    /// The stream offset of the unfinished message and when its first byte was seen.
    private(set) var partial: (offset: Int, since: ContinuousClock.Instant)?
    /// When the connection last became idle; nil while a call is in progress.
    private(set) var idleSince: ContinuousClock.Instant?

    init(partialMessage: Duration, idle: Duration?, now: ContinuousClock.Instant) {
        partialMessageLimit = partialMessage
        idleLimit = idle
        idleSince = now
    }

    /// Input was read: `start` is where the unfinished message begins (nil if none).
    mutating func input(partialMessageStart start: Int?, now: ContinuousClock.Instant) {
        guard let start else {
            partial = nil
            return
        }
        if partial?.offset != start { partial = (start, now) }
    }

    mutating func callStarted() { idleSince = nil }

    mutating func callFinished(now: ContinuousClock.Instant) { idleSince = now }

    /// The earliest deadline still to come, if any runs.
    var next: ContinuousClock.Instant? {
        let partialDeadline = partial.map { $0.since + partialMessageLimit }
        let idleDeadline = partial == nil ? idleLimit.flatMap { limit in idleSince.map { $0 + limit } } : nil
        switch (partialDeadline, idleDeadline) {
        case (let a?, let b?): return min(a, b)
        case (let a?, nil): return a
        case (nil, let b?): return b
        case (nil, nil): return nil
        }
    }

    /// Which deadline has passed at `now`, the unfinished message first.
    func expired(at now: ContinuousClock.Instant) -> Expiry? {
        if let partial, now >= partial.since + partialMessageLimit { return .partialMessage }
        if partial == nil, let idleLimit, let idleSince, now >= idleSince + idleLimit { return .idle }
        return nil
    }
}
