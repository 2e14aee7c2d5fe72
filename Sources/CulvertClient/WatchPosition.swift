// WatchPosition: where a subscriber is in the event stream, and what each arriving event means.

import CulvertCore

/// The (epoch, seq) of the last event delivered, and the rules that keep delivery exactly-once.
///
/// A value type that decides; the watch worker does the I/O and acts on the verdict. Only a
/// `.deliver` or `.resync` verdict moves the position, so a rejected event leaves it where a
/// reconnect can resume from.
public struct WatchPosition: Sendable, Equatable {
    public private(set) var epoch: String?
    /// Seq of the last event delivered in `epoch`.
    public private(set) var seq: Int64?

    public init() {}

    public init(epoch: String, seq: Int64) {
        self.epoch = epoch
        self.seq = seq
    }

    /// True once the subscriber has a place in some epoch to resume from.
    public var isKnown: Bool { epoch != nil && seq != nil }

    public enum Verdict: Sendable, Equatable {
        /// The next event in order: deliver it.
        case deliver
        /// A snapshot: deliver it; the position now is its (epoch, seq).
        case resync(ResyncReason)
        /// Must not be delivered; the stream has to be re-established from the current position.
        case violation(String)
    }

    /// Judges `event`. `isFirstReply`: it is the first reply of a `Watch` call, the only place a
    /// snapshot may appear.
    public mutating func accept(_ event: Event, isFirstReply: Bool) -> Verdict {
        if event.kind == .snapshot {
            guard isFirstReply else { return .violation("snapshot at seq \(event.seq) after the stream had started") }
            guard event.status != nil else { return .violation("snapshot at seq \(event.seq) without a status") }
            epoch = event.epoch
            seq = event.seq
            return .resync(ResyncReason(rawValue: event.reason ?? "unspecified"))
        }
        guard let epoch, let seq else { return .violation("\(event.kind) event at seq \(event.seq) before any snapshot") }
        guard event.epoch == epoch else { return .violation("event of epoch \(event.epoch) while following epoch \(epoch)") }
        guard event.seq > seq else { return .violation("duplicate seq \(event.seq): already delivered up to \(seq)") }
        guard event.seq == seq + 1 else { return .violation("gap: expected seq \(seq + 1), got \(event.seq)") }
        self.seq = event.seq
        return .deliver
    }
}
