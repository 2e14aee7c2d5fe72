// WatchUpdate: what a WatchStream yields — events, and how the stream is doing.

import CulvertCore
import CulvertVarlink

/// One element of a `WatchStream`.
///
/// ```
///  .event … ──► .interrupted(cause) ──► (backoff, reconnect) ──► .resumed(how) ──► .event …
///                      │                                               ▲
///                      └──── more failed attempts: reported once ──────┘
///  any time: .invalidated(cause, hint) ──► end of stream
/// ```
public enum WatchUpdate: Sendable, Equatable {
    /// The next event: each exactly once, in seq order within its epoch. A `snapshot` event
    /// carries the full state and restarts the position.
    case event(Event)
    /// The stream lost the daemon and is reconnecting. Reported once per outage, with its first cause.
    case interrupted(WatchInterruption)
    /// The stream is following the daemon again (after `.interrupted`, or at the start when given a position).
    case resumed(WatchResumption)
    /// The stream cannot continue; it ends after this. `hint` tells a person what to do.
    case invalidated(WatchInvalidation, hint: String)
}

/// Why a stream is reconnecting: transient conditions only.
public enum WatchInterruption: Sendable, Equatable, CustomStringConvertible {
    /// Connecting failed (no daemon, socket gone, refused).
    case daemonUnreachable(path: String, reason: String)
    /// The daemon closed the connection (it stopped, crashed, or is restarting).
    case connectionClosed
    /// The daemon dropped this subscriber for not reading fast enough (`SubscriberTooSlow`).
    case droppedAsTooSlow(queuedBytes: Int64, limit: Int64)
    /// The daemon did not answer the reconnection handshake in time.
    case timedOut
    /// The daemon sent something the event-stream contract forbids (a gap, a duplicate, an
    /// event of another epoch, a reply that doesn't parse). Repeated ones invalidate the stream.
    case protocolViolation(String)
    /// An error reply the client has no meaning for; retried like the others.
    case remote(VarlinkError)

    public var description: String {
        switch self {
        case .daemonUnreachable(let path, let reason): return "daemon unreachable at \(path) (\(reason))"
        case .connectionClosed: return "connection closed by the daemon"
        case .droppedAsTooSlow(let queued, let limit): return "dropped as too slow (\(queued) bytes queued, limit \(limit))"
        case .timedOut: return "no answer from the daemon in time"
        case .protocolViolation(let detail): return "protocol violation: \(detail)"
        case .remote(let error): return "error from the daemon: \(error)"
        }
    }
}

/// How a stream caught up after `.interrupted` (or from the position it was started with).
public enum WatchResumption: Sendable, Equatable, CustomStringConvertible {
    /// The daemon replays the events missed since the last delivered one; `count` of them follow
    /// as `.event`s (events that happen during the handshake arrive after them as live events).
    case replayed(count: Int64)
    /// The position could not be served; the next update is a `snapshot` event with the full state.
    case snapshot(ResyncReason)

    public var description: String {
        switch self {
        case .replayed(let count): return "replayed \(count)"
        case .snapshot(let reason): return "snapshot (\(reason))"
        }
    }
}

/// Why the daemon sent a snapshot instead of replaying. Open-ended like `EventKind`: a newer
/// daemon may give reasons this client does not know.
public struct ResyncReason: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ reason: SnapshotReason) { rawValue = reason.rawValue }
    public var description: String { rawValue }

    public static let noPosition = ResyncReason(.noPosition)
    /// The daemon restarted: state may have changed while nobody watched.
    public static let otherEpoch = ResyncReason(.otherEpoch)
    /// The missed events are no longer held by the daemon.
    public static let tooOld = ResyncReason(.tooOld)
    public static let ahead = ResyncReason(.ahead)
}

/// Why a stream ended: conditions that retrying cannot fix.
public enum WatchInvalidation: Sendable, Equatable, CustomStringConvertible {
    /// The caller may not watch (`action` is the refused method, or "connect" for the socket itself).
    case permissionDenied(action: String)
    /// Whatever listens on `path` does not implement io.culvert.Manager (or not this version of it).
    case interfaceNotImplemented(path: String, error: VarlinkError)
    /// The daemon broke the event-stream contract `count` times within the policy's window.
    case protocolViolations(count: Int, last: String)

    public var description: String {
        switch self {
        case .permissionDenied(let action): return "permission denied for \(action)"
        case .interfaceNotImplemented(let path, let error): return "\(path) does not serve io.culvert.Manager (\(error.name))"
        case .protocolViolations(let count, let last): return "\(count) protocol violations, the last: \(last)"
        }
    }
}
