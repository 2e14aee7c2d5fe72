// ManagerService+Reexec: culvertd replacing its own program in place (contract 10) — the deb's
// postinst and the unit's ExecReload= use it. Clients keep their connections (a Watch continues
// with the next seq: daemon_going_away, then daemon_back); the epoch and the event ring are
// carried; providers keep their tunnels and are re-adopted by the new image.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

extension ManagerService {
    /// Longest time spent flushing client output before the exec.
    static let reexecFlushDeadline: Duration = .seconds(2)
    /// Exit status when exec failed after the connections were let go (EX_TEMPFAIL): the service
    /// manager restarts culvertd, which re-adopts providers; clients resume through a snapshot.
    static let reexecFailedExitStatus: Int32 = 75

    func reexec(_ call: VarlinkCall, replier: VarlinkReplier) {
        dispatchPrecondition(condition: .onQueue(queue))
        func refuse(_ reason: String, _ description: String) {
            replier.fail(ManagerError.reexecFailed(reason: reason, description: description))
        }
        // Without `binary`: the program culvertd was started from, which after a package upgrade is the new file there.
        let binary =
            call.parameters["binary"]?.stringValue
            ?? SpawnedProcess.executablePath(of: Identity.processID).map(ProcessImage.reexecutablePath(fromExecutableLink:)) ?? ""
        // try?: an unreadable binary is as unusable as a missing one.
        guard binary.hasPrefix("/"), let status = try? FileSystem.status(of: binary), status.kind == .regular, status.isExecutable else {
            refuse("binary_unusable", "\(binary.isEmpty ? "the running binary" : binary) is not an executable file given by absolute path")
            return
        }
        guard supervisor.isQuiescent, installs.isIdle, registryWrites.isIdle else {
            refuse("busy", "sessions are starting or stopping, or clients wait on them; try again when they are settled")
            return
        }
        guard let server, server.connectionsAreCarriable(except: call.connectionID) else {
            refuse("busy", "a client has a call in progress that cannot be carried across the exec")
            return
        }
        publish(EventBody(kind: .daemonGoingAway, actor: actor(call), reason: "reexec"))
        logger.notice("re-executing \(binary) at the request of uid \(call.peer.uid)")
        replier.reply([:])
        // After the reply is queued (the handover flushes it), from a fresh turn of the queue.
        queue.async { [self] in performReexec(binary: binary) }
    }

    private func performReexec(binary: String) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard let server, let listener = server.listenerDescriptor else { return }
        let clock = ContinuousClock()
        let connections = server.handOverConnections(deadline: clock.now.advanced(by: Self.reexecFlushDeadline))
        let state = ReexecState(
            epoch: events.epoch, lastSeq: events.lastSeq, capacity: events.capacity, events: events.heldEvents,
            startedAt: daemon.startedAt, previousVersion: daemon.version, connections: connections,
            sessions: supervisor.sortedSessions, sessionLogs: supervisor.carriedLogs,
            seccompListeners: supervisor.carriedListeners)
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let memfd = try ProcessImage.memoryFile(named: "culvertd-reexec", containing: Array(try encoder.encode(state)))
            try memfd.setCloseOnExec(false)
            try listener.setCloseOnExec(false)
            for connection in connections { try Descriptor(rawValue: connection.descriptor).setCloseOnExec(false) }
            for carried in state.seccompListeners ?? [] { try Descriptor(rawValue: carried.descriptor).setCloseOnExec(false) }
            var environment = ProcessInfo.processInfo.environment
            for name in ["LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID"] { environment[name] = nil }
            environment[ReexecState.stateVariable] = "\(memfd.rawValue)"
            environment[ReexecState.listenerVariable] = "\(listener.rawValue)"
            environment[ReexecState.connectionsVariable] = connections.map { "\($0.descriptor)" }.joined(separator: ",")
            environment[ReexecState.ownsPathVariable] = ownsSocketPath ? "1" : "0"
            environment[ReexecState.seccompVariable] = (state.seccompListeners ?? []).map { "\($0.descriptor)" }.joined(separator: ",")
            try ProcessImage.replace(with: binary, arguments: CommandLine.arguments, environment: environment)
        } catch {
            // The connections are already let go: the safe way on is a restart, which re-adopts
            // providers and lets clients resume through a snapshot.
            logger.critical("re-exec of \(binary) failed: \(error); exiting for a restart")
            exit(Self.reexecFailedExitStatus)
        }
    }

    /// Makes `replier` (an open Watch) a subscriber with `audience`'s view, one a re-exec carries on.
    func subscribe(_ connectionID: UInt64, _ replier: VarlinkReplier, audience: Audience) {
        subscribers.add(connectionID, replier, audience: audience)
        replier.onCancel = { [weak self] in self?.subscribers.remove(connectionID) }
        replier.markCarriable()
    }

    /// Takes up a Watch the previous image carried (`subscribe` marks nothing else carriable).
    public func resume(_ call: VarlinkCarriedCall, replier: VarlinkReplier) {
        guard ManagerMethod(rawValue: call.message.method) == .watch else {
            replier.fail(.methodNotImplemented(call.message.method))
            return
        }
        // The view follows the credentials the previous image verified, as for a new Watch.
        subscribe(call.connectionID, replier, audience: audience(of: call.peer))
    }

    /// Takes back the connections a re-exec carried, then announces the new image.
    func adoptCarriedConnections() {
        dispatchPrecondition(condition: .onQueue(queue))
        guard let restoring, let server else { return }
        self.restoring = nil
        for handover in restoring.connections { server.adopt(handover) }
        var body = EventBody(kind: .daemonBack, daemon: daemon, reason: "reexec", previousVersion: restoring.previousVersion)
        body.daemon = daemon
        let event = publish(body)
        logger.notice(
            "re-executed: \(restoring.connections.count) connections and \(supervisor.sessions.count) sessions carried (seq \(event.seq))")
    }
}
