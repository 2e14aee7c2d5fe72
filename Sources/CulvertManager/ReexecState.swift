// ReexecState: what culvertd carries across `Reexec` into the next process image (contract 10), in
// a memfd whose descriptor number is in CULVERT_REEXEC_STATE. The listener and client connections
// are inherited descriptors; their numbers are also in CULVERT_REEXEC_LISTENER and
// CULVERT_REEXEC_CONNECTIONS, so an image that cannot read the state still knows what to close
// (its clients then reconnect and resume through a snapshot) and what to listen on. Providers are
// not carried: their channels close with the old image and the new one re-adopts them through
// their rendezvous sockets, as after a crash, keeping their tunnels and settings untouched. Their
// seccomp listeners are (CULVERT_REEXEC_SECCOMP): without one a provider's refused calls would
// fail with ENOSYS and go uncounted.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import FoundationEssentials

struct ReexecState: Codable {
    static let currentFormat = 1
    static let stateVariable = "CULVERT_REEXEC_STATE"
    static let listenerVariable = "CULVERT_REEXEC_LISTENER"
    static let connectionsVariable = "CULVERT_REEXEC_CONNECTIONS"
    static let ownsPathVariable = "CULVERT_REEXEC_OWNS_PATH"
    static let seccompVariable = "CULVERT_REEXEC_SECCOMP"
    /// Largest state accepted back (the event ring dominates).
    static let maximumBytes = 256 << 20

    var format = ReexecState.currentFormat
    var epoch: String
    var lastSeq: Int64
    var capacity: Int
    var events: [Event]
    var startedAt: String
    var previousVersion: String
    var connections: [VarlinkConnectionHandover]
    var sessions: [SessionInfo]
    var sessionLogs: [String: [String]]
    /// Each running provider's seccomp listener (an inherited descriptor) and what it counted so
    /// far, by the run's record id. Absent in states of images before containment.
    var seccompListeners: [CarriedListener]?

    struct CarriedListener: Codable, Equatable {
        var recordID: String
        var descriptor: Int32
        var deniedCalls: UInt64
        var deniedCallNames: [String]
    }

    /// What the environment says was inherited, whether or not the state itself is readable.
    struct Inheritance {
        var state: ReexecState?
        var listener: Descriptor
        var ownsPath: Bool
        /// Why the state could not be used (the fallback then applies).
        var problem: String?
    }

    /// Takes the inherited state out of `environment` (nil when this start is not a re-exec).
    /// Every descriptor it names is made close-on-exec again.
    static func take(from environment: [String: String]) -> Inheritance? {
        guard let listenerText = environment[listenerVariable], let listenerNumber = Int32(listenerText) else { return nil }
        let listener = Descriptor(rawValue: listenerNumber)
        try? listener.setCloseOnExec(true)  // try?: only matters for children; they are spawned with explicit fds
        let connections = (environment[connectionsVariable] ?? "").split(separator: ",").compactMap { Int32($0) }
        let listeners = (environment[seccompVariable] ?? "").split(separator: ",").compactMap { Int32($0) }
        var inheritance = Inheritance(state: nil, listener: listener, ownsPath: environment[ownsPathVariable] == "1")
        do {
            guard let stateText = environment[stateVariable], let number = Int32(stateText) else {
                throw ReexecStateProblem("no \(stateVariable)")
            }
            let memfd = Descriptor(rawValue: number)
            defer { memfd.close() }
            let bytes = try ProcessImage.readAll(memfd, limit: maximumBytes)
            var state = try JSONDecoder().decode(ReexecState.self, from: Data(bytes))
            guard state.format == currentFormat else { throw ReexecStateProblem("state format \(state.format) is not \(currentFormat)") }
            guard Set(state.connections.map(\.descriptor)) == Set(connections) else {
                throw ReexecStateProblem("the state's connections do not match the inherited descriptors")
            }
            guard Set((state.seccompListeners ?? []).map(\.descriptor)) == Set(listeners) else {
                throw ReexecStateProblem("the state's seccomp listeners do not match the inherited descriptors")
            }
            // Images before `carriedMethod` recorded only that a call was carried: always a Watch.
            for index in state.connections.indices where state.connections[index].carriesCall {
                if state.connections[index].carriedMethod == nil { state.connections[index].carriedMethod = ManagerMethod.watch.rawValue }
            }
            inheritance.state = state
        } catch {
            inheritance.problem = "\(error)"
            // Unusable: the carried clients are closed and reconnect (they resume through a snapshot).
            for number in connections + listeners { Descriptor(rawValue: number).close() }
        }
        for carried in inheritance.state?.seccompListeners ?? [] {
            try? Descriptor(rawValue: carried.descriptor).setCloseOnExec(true)  // try?: as above
        }
        for connection in inheritance.state?.connections ?? [] {
            try? Descriptor(rawValue: connection.descriptor).setCloseOnExec(true)  // try?: as above
        }
        return inheritance
    }
}

struct ReexecStateProblem: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
