// ManagerConnection: one blocking varlink connection to culvertd, owned by one I/O thread.

import CulvertVarlink
import CulvertWire

/// A connection to `io.culvert.Manager` with deadlines and cancellation.
///
/// Used only from the thread that opened it (it wraps a non-thread-safe `VarlinkClientConnection`);
/// other threads interrupt it through its `ConnectionGate`. Once the gate is cancelled every
/// failure is reported as `.cancelled`, whatever the socket said.
final class ManagerConnection {
    /// How an operation on the connection failed. Kept raw so each caller (one-shot calls, the
    /// watch) can classify it in its own terms.
    enum Failure: Error {
        case cancelled
        /// Connecting or I/O failed; `.remote` here means an error reply to `call`.
        case varlink(VarlinkClientError)
        /// A reply arrived but breaks the interface's contract.
        case violation(String)
    }

    let path: String
    private let connection: VarlinkClientConnection
    private let gate: ConnectionGate

    private init(path: String, connection: VarlinkClientConnection, gate: ConnectionGate) {
        self.path = path
        self.connection = connection
        self.gate = gate
    }

    /// Connects to `path` and attaches the socket to `gate`.
    static func open(path: String, gate: ConnectionGate) throws(Failure) -> ManagerConnection {
        guard !gate.isCancelled else { throw .cancelled }
        let connection: VarlinkClientConnection
        do {
            connection = try VarlinkClientConnection(path: path)
        } catch {
            throw .varlink(error)
        }
        guard gate.attach(connection.descriptor) else {
            connection.close()
            throw .cancelled
        }
        return ManagerConnection(path: path, connection: connection, gate: gate)
    }

    deinit { close() }

    /// Detaches from the gate, then closes; idempotent.
    func close() {
        gate.detach()
        connection.close()
    }

    /// Sends a call to `method`.
    func send(_ method: ManagerMethod, _ parameters: JSONValue = [:], more: Bool = false) throws(Failure) {
        do {
            try connection.send(VarlinkCallMessage(method: method.rawValue, parameters: parameters, more: more))
        } catch {
            throw mapped(error)
        }
    }

    /// The next reply, waiting until `deadline` (nil: until one arrives or the gate is cancelled).
    /// Error replies are returned, not thrown, so a stream's reader sees them in order.
    func receive(until deadline: ContinuousClock.Instant?) throws(Failure) -> VarlinkReplyMessage {
        var timeout: Int32 = -1
        if let deadline {
            let remaining = deadline - .now
            guard remaining > .zero else { throw .varlink(.timedOut) }
            timeout = remaining.pollMilliseconds
        }
        do {
            return try connection.receive(timeoutMilliseconds: timeout)
        } catch {
            throw mapped(error)
        }
    }

    /// Calls a method that has exactly one reply; an error reply is thrown as `.varlink(.remote)`.
    func call(_ method: ManagerMethod, _ parameters: JSONValue = [:], until deadline: ContinuousClock.Instant) throws(Failure) -> JSONValue
    {
        try send(method, parameters)
        let reply = try receive(until: deadline)
        if let error = reply.error { throw .varlink(.remote(VarlinkError(error, reply.parameters))) }
        guard !reply.continues else { throw .violation("\(method.member) replied with \"continues\" to a call without \"more\"") }
        return reply.parameters
    }

    private func mapped(_ error: VarlinkClientError) -> Failure {
        // A cancel shuts the socket down, which surfaces as "disconnected": report what happened.
        gate.isCancelled ? .cancelled : .varlink(error)
    }
}

extension CulvertClientError {
    /// The one-shot call's view of a connection failure during `member`.
    init(_ failure: ManagerConnection.Failure, path: String, member: String) {
        switch failure {
        case .cancelled: self = .cancelled
        case .varlink(let error): self = CulvertClientError(error, path: path, method: member)
        case .violation(let detail): self = .protocolViolation(detail)
        }
    }
}
