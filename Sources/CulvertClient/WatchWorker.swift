// WatchWorker: the thread behind a WatchStream — connect, resume, follow, reconnect.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire

/// Runs one watch on its own thread until the stream is invalidated or its consumer goes away.
///
/// Each session: connect → `Ping` (is this io.culvert.Manager? which epoch and seq is it at?) →
/// `Watch(since, epoch)` from the position → judge every event with `WatchPosition` → hand it to
/// the `WatchBuffer`. A session ends with a `SessionEnd`; transient ends are retried after a backoff.
final class WatchWorker: @unchecked Sendable {  // after init, every mutable member is touched only by the watch thread
    private let path: String
    private let callDeadline: Duration
    private let policy: WatchPolicy
    private let buffer: WatchBuffer
    private let gate: ConnectionGate
    private var position: WatchPosition
    private var backoff: ReconnectBackoff
    /// When recent protocol violations happened, for the invalidation window.
    private var violations: [ContinuousClock.Instant] = []
    /// The next successful subscription is announced with `.resumed`.
    private var resumePending: Bool
    /// `.interrupted` was yielded for the current outage; further failed attempts stay quiet.
    private var outageReported = false

    enum SessionEnd: Error {
        case transient(WatchInterruption)
        case permanent(WatchInvalidation)
        /// The consumer went away.
        case stopped
    }

    init(path: String, callDeadline: Duration, position: WatchPosition, policy: WatchPolicy, buffer: WatchBuffer, gate: ConnectionGate) {
        self.path = path
        self.callDeadline = callDeadline
        self.policy = policy
        self.buffer = buffer
        self.gate = gate
        self.position = position
        backoff = ReconnectBackoff(policy: policy)
        // Started from a position: say how the stream picked it up, like after an interruption.
        resumePending = position.isKnown
    }

    func run() {
        defer { buffer.finish() }
        while true {
            let end: SessionEnd
            do throws(SessionEnd) {
                try follow()
                end = .stopped  // follow returns only when the consumer is gone
            } catch {
                end = error
            }
            switch end {
            case .stopped:
                return
            case .permanent(let cause):
                _ = buffer.push(.invalidated(cause, hint: Self.hint(for: cause, path: path)))  // false: nobody is left to tell
                return
            case .transient(let cause):
                if case .protocolViolation(let detail) = cause, let invalidation = recordViolation(detail) {
                    _ = buffer.push(.invalidated(invalidation, hint: Self.hint(for: invalidation, path: path)))  // as above
                    return
                }
                if !outageReported {
                    outageReported = true
                    resumePending = true
                    guard buffer.push(.interrupted(cause)) else { return }
                }
                guard gate.sleep(for: backoff.next()) else { return }
            }
        }
    }

    // MARK: one session

    /// Follows the stream over one connection. Returns only when the consumer is gone; every
    /// other end is thrown.
    private func follow() throws(SessionEnd) {
        let connection = try step { () throws(ManagerConnection.Failure) in try ManagerConnection.open(path: path, gate: gate) }
        defer { connection.close() }
        let handshakeDeadline = ContinuousClock.now + callDeadline
        let pingReply = try step { () throws(ManagerConnection.Failure) in try connection.call(.ping, until: handshakeDeadline) }
        let ping = try decode(PingReply.self, from: pingReply, what: "Ping reply")

        let before = position
        var parameters: [String: JSONValue] = [:]
        if let epoch = before.epoch, let seq = before.seq {
            parameters = ["since": .int(seq), "epoch": .string(epoch)]
        }
        try step { () throws(ManagerConnection.Failure) in try connection.send(.watch, .object(parameters), more: true) }

        var firstReply = true
        // Nothing was missed: the daemon replays nothing and the first reply may be a live event
        // arriving any time later, so the subscription counts as resumed now.
        var subscribedEarly = false
        if before.isKnown, ping.epoch == before.epoch, ping.seq == before.seq {
            guard subscribed(announcing: .replayed(count: 0)) else { return }
            subscribedEarly = true
        }

        while true {
            let deadline = firstReply && !subscribedEarly ? handshakeDeadline : nil
            let reply = try step { () throws(ManagerConnection.Failure) in try connection.receive(until: deadline) }
            if let name = reply.error { throw classify(remote: VarlinkError(name, reply.parameters), member: ManagerMethod.watch.member) }
            guard reply.continues else { throw .transient(.protocolViolation("Watch ended with a final reply")) }
            let event = try decode(Event.self, from: reply.parameters["event"], what: "event")

            switch position.accept(event, isFirstReply: firstReply) {
            case .deliver:
                if firstReply && !subscribedEarly {
                    let missed = max(0, ping.seq - (before.seq ?? ping.seq))
                    guard subscribed(announcing: resumePending ? .replayed(count: missed) : nil) else { return }
                }
                guard buffer.push(.event(event)) else { return }
            case .resync(let reason):
                let announce = resumePending || before.isKnown
                guard subscribed(announcing: announce ? .snapshot(reason) : nil), buffer.push(.event(event)) else { return }
            case .violation(let detail):
                throw .transient(.protocolViolation(detail))
            }
            firstReply = false
        }
    }

    /// The stream is following again: reset the outage state and say how it resumed.
    /// Returns false if the consumer is gone.
    private func subscribed(announcing resumption: WatchResumption?) -> Bool {
        backoff.reset()
        outageReported = false
        resumePending = false
        if let resumption { return buffer.push(.resumed(resumption)) }
        return true
    }

    private func step<T>(_ body: () throws(ManagerConnection.Failure) -> T) throws(SessionEnd) -> T {
        do {
            return try body()
        } catch {
            throw classify(error)
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, from value: JSONValue?, what: String) throws(SessionEnd) -> T {
        do {
            return try WireDecoding.decode(type, from: value, what: what)
        } catch {
            throw .transient(.protocolViolation(error.description))
        }
    }

    // MARK: classification

    private func classify(_ failure: ManagerConnection.Failure) -> SessionEnd {
        switch failure {
        case .cancelled:
            return .stopped
        case .violation(let detail):
            return .transient(.protocolViolation(detail))
        case .varlink(.system(let error)):
            if error.errno == Syscall.EACCES || error.errno == Syscall.EPERM { return .permanent(.permissionDenied(action: "connect")) }
            return .transient(.daemonUnreachable(path: path, reason: Syscall.errorMessage(error.errno)))
        case .varlink(.disconnected):
            return .transient(.connectionClosed)
        case .varlink(.timedOut):
            return .transient(.timedOut)
        case .varlink(.invalidReply(let why)):
            return .transient(.protocolViolation("invalid reply: \(why)"))
        case .varlink(.remote(let error)):
            return classify(remote: error, member: ManagerMethod.ping.member)
        }
    }

    private func classify(remote error: VarlinkError, member: String) -> SessionEnd {
        switch ManagerError(error) {
        case .permissionDenied(let action, _):
            return .permanent(.permissionDenied(action: action))
        case .subscriberTooSlow(let queuedBytes, let limit):
            return .transient(.droppedAsTooSlow(queuedBytes: queuedBytes, limit: limit))
        default:
            break
        }
        switch VarlinkServiceErrorName(rawValue: error.name) {
        case .permissionDenied?:
            return .permanent(.permissionDenied(action: member))
        case .interfaceNotFound?, .methodNotFound?, .methodNotImplemented?, .invalidParameter?, .expectedMore?:
            return .permanent(.interfaceNotImplemented(path: path, error: error))
        case nil:
            return .transient(.remote(error))
        }
    }

    /// Records a violation; returns the invalidation if there were too many within the window.
    private func recordViolation(_ detail: String) -> WatchInvalidation? {
        let now = ContinuousClock.now
        violations.removeAll { now - $0 > policy.violationWindow }
        violations.append(now)
        guard violations.count >= policy.maximumViolations else { return nil }
        return .protocolViolations(count: violations.count, last: detail)
    }

    static func hint(for cause: WatchInvalidation, path: String) -> String {
        switch cause {
        case .permissionDenied(let action) where action == "connect":
            return "the socket \(path) is not accessible to this user; run as root or as a member of culvertd's reader group"
        case .permissionDenied:
            return "watching needs root or membership of culvertd's reader group (default \"culvert\")"
        case .interfaceNotImplemented:
            return "\(path) is not culvertd's socket, or culvertd is too old; check --socket / $CULVERT_SOCKET and the installed version"
        case .protocolViolations:
            return
                "culvertd keeps breaking the event-stream contract; make sure culvertd and this client are the same version, and report a bug"
        }
    }
}
