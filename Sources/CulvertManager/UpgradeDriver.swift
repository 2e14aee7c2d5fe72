// UpgradeDriver: performs one session's live upgrade as its `UpgradeMachine` (CulvertCore) decides.
// The machine says what to do; this class holds what doing it needs — the old run, the new run,
// the kept TUN, the PrepareHandover reply, the timers — and feeds back what happened: call replies,
// exits (routed here by `SessionSupervisor.runExited` while `machine.watchesOldExit` /
// `watchesNewRun`), timers and the results of the synchronous actions (keepTun, replaceTun, spawnNew).
// Every decision is in the machine; nothing here chooses a path. What the machine is told at its
// start are facts: whether the new version declares `handover`, and whether the TUN's framing
// (the kernel's report for the running interface) differs from what the new version declares.

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch

/// Why a session's upgrade was abandoned (UpgradeFailed's and upgrade_failed's content).
struct UpgradeFailure: Error {
    var profile: String
    var reason: String
    var description: String
    /// The new version's last output lines.
    var log: [String]
}

final class UpgradeDriver: @unchecked Sendable {  // confined to the manager queue
    let session: TunnelSession
    let oldRun: ProviderRun
    let from: ExtensionInfo
    let to: ExtensionInfo
    private(set) var machine: UpgradeMachine
    private(set) var newRun: ProviderRun?
    /// Stop → start: culvertd's own descriptor of the TUN, holding the link while no provider runs
    /// (with a new TUN: the interface made for the version about to start).
    private var kept: TunDevice?
    /// PrepareHandover's reply: the state and socket copies for ImportHandover.
    private var prepared: (state: String, descriptors: [Descriptor])?
    private var deadline: DispatchWorkItem?
    private var stopGrace: DispatchWorkItem?
    /// The discarded new run's last output lines, for the failure report.
    private var newLog: [String] = []
    private let completion: (UpgradeFailure?) -> Void
    private unowned let supervisor: SessionSupervisor

    init(
        session: TunnelSession, from: ExtensionInfo, to: ExtensionInfo, supervisor: SessionSupervisor,
        completion: @escaping (UpgradeFailure?) -> Void
    ) {
        precondition(session.run != nil, "an upgrade needs the session's running provider")
        self.session = session
        // The precondition above: only connected sessions with a run are upgraded.
        oldRun = session.run!
        self.from = from
        self.to = to
        self.supervisor = supervisor
        self.completion = completion
        let handover = to.capabilities.contains(BundleCapability.handover.rawValue)
        // try?: a TUN whose flags cannot be read is judged by what its version declares; the launcher
        // still refuses to hand a successor a TUN of the wrong framing.
        let running = (try? oldRun.tun.framing()) ?? ProviderLauncher.framing(of: from)
        machine = UpgradeMachine(
            handover: handover, tunFramingChanges: running != ProviderLauncher.framing(of: to), timing: supervisor.configuration.timing)
    }

    func start() {
        session.upgrade = self
        feed(.begin)
    }

    func feed(_ input: UpgradeMachine.Input) {
        dispatchPrecondition(condition: .onQueue(supervisor.queue))
        perform(machine.handle(input))
    }

    /// Whether the session is still the one this upgrade started from; if not, the machine is told first.
    private func checkSession() {
        let state = session.machine.state
        if session.run !== oldRun || (state != .connected && state != .reasserting) { feed(.sessionChanged) }
    }

    // MARK: routed here by the supervisor

    /// The old run ended while the machine watches it.
    func oldRunExited() {
        if machine.mode == .restart, session.machine.state != .reasserting { feed(.sessionChanged) }
        feed(.oldExited)
    }

    /// The new run ended while the machine watches it.
    func newRunExited(_ exit: ProcessExit) { feed(.newExited("\(exit)")) }

    /// A call from the new run before it has taken over: settings and Protect act on the session's
    /// (shared) TUN through its current run — or, on a TUN of its own (`replacesTun`), on the new
    /// run itself; CancelTunnel gives the attempt up; others are answered.
    func successorCall(_ call: VarlinkPeerCall, responder: VarlinkPeerResponder) {
        guard machine.watchesNewRun, session.run === oldRun else {
            let state = machine.mode == .handover ? "handover" : "upgrade"
            responder.fail(ProviderError.notReady(state: state))
            return
        }
        switch ProviderMethod(rawValue: call.message.method) {
        case .setTunnelNetworkSettings?, .protect?:
            let acting = machine.replacesTun ? newRun ?? oldRun : oldRun  // watchesNewRun: newRun is set
            supervisor.handleProviderCall(call, responder: responder, session: session, run: acting)
        case .cancelTunnel?:
            responder.reply([:])
            // try?: validated against the interface already; an absent error is nil either way.
            feed(.newCancelled((try? CancelTunnelParameters(json: call.parameters))?.error))
        case .setReasserting?, .startTunnel?, .stopTunnel?, .handleAppMessage?, .reattach?, .prepareHandover?,
            .resumeAfterFailedHandover?, .importHandover?, nil:
            responder.reply([:])  // SetReasserting while taking over: the session stays as it is
        }
    }

    // MARK: actions

    private func perform(_ actions: [UpgradeMachine.Action]) {
        let logger = supervisor.logger
        for action in actions {
            switch action {
            case .publishStarted(let reason):
                supervisor.events.publish(
                    EventBody(
                        kind: .handoverStarted, reason: reason.rawValue, extensionInfo: to,
                        previousVersion: from.versionDescription, session: session.info))
            case .sessionInput(let input):
                supervisor.feed(input, session)
            case .keepTun:
                do {
                    kept = TunDevice(
                        descriptor: try oldRun.tun.descriptor.duplicate(), name: oldRun.tun.name, interfaceIndex: oldRun.tun.interfaceIndex)
                    feed(.tunKept)
                } catch {
                    feed(.keepTunFailed(error.description))
                }
            case .closeKeptTun:
                kept?.descriptor.close()
                kept = nil
            case .replaceTun(let version):
                replaceTun(framing: ProviderLauncher.framing(of: version == .target ? to : from))
            case .spawnNew(let version, let source):
                spawn(version, on: source == .kept ? kept : oldRun.tun)
            case .armDeadline(let after):
                deadline = supervisor.schedule(after: after) { [weak self] in self?.feed(.deadline) }
            case .cancelDeadline:
                deadline?.cancel()
                deadline = nil
            case .callPrepare:
                callPrepare()
            case .callImport:
                callImport()
            case .callStart:
                callStart()
            case .stopOld:
                oldRun.role = .superseded
                oldRun.channel.call(
                    ProviderMethod.stopTunnel.rawValue, parameters: StopTunnelParameters(reason: StopReason.superseded.rawValue).jsonValue
                ) { _ in }
            case .armStopGrace(let after):
                stopGrace = supervisor.schedule(after: after) { [weak self] in self?.feed(.stopGraceElapsed) }
            case .cancelStopGrace:
                stopGrace?.cancel()
                stopGrace = nil
            case .killOld:
                supervisor.killRun(oldRun)
            case .discardNew:
                if let run = newRun { newLog = supervisor.discard(run, session: session) }
                newRun = nil
            case .resumeOld:
                guard session.run === oldRun, oldRun.exit == nil else { continue }
                oldRun.channel.call(ProviderMethod.resumeAfterFailedHandover.rawValue) { [session] result in
                    if case .failure(let error) = result {
                        logger.error("session \(session.profileName): the running version did not resume: \(Self.text(of: error))")
                    }
                }
            case .closeHandoverDescriptors:
                prepared?.descriptors.forEach { $0.close() }
                prepared = nil
            case .switchRun(let version):
                guard let run = newRun else { continue }
                supervisor.switchRun(
                    session, from: oldRun, to: run, version: version == .target ? to.version : from.version,
                    movingSettings: !machine.replacesTun)
                newRun = nil
            case .retireOld:
                supervisor.retire(oldRun, session: session)
            case .closeOld:
                oldRun.close()
            case .publishCompleted(let reason):
                logger.notice(
                    "session \(session.profileName): upgraded \(from.versionDescription) → \(to.versionDescription) (\(reason.rawValue)), pid \(session.info.pid ?? 0)"
                )
                supervisor.events.publish(
                    EventBody(
                        kind: .handoverCompleted, reason: reason.rawValue, extensionInfo: to,
                        previousVersion: from.versionDescription, session: session.info))
            case .publishFailed(let failure):
                let report = upgradeFailure(failure)
                logger.error(
                    "session \(session.profileName): upgrade to \(to.versionDescription) abandoned (\(report.reason)): \(report.description)"
                )
                supervisor.events.publish(
                    EventBody(
                        kind: .upgradeFailed, reason: report.reason, extensionInfo: to, previousVersion: from.versionDescription,
                        error: report.description, session: session.info, log: report.log))
            case .endSession(let description, let withNewLog):
                guard session.run === oldRun else { continue }
                let failure = SessionFailure(reason: .providerExited, description: description, log: withNewLog ? newLog : [])
                supervisor.feed(.providerExited(failure), session)
                if session.run === oldRun { supervisor.tearDown(session) }
            case .forwardOldExit:
                supervisor.sessionRunExited(session, oldRun)
            case .finish(let failure):
                if session.upgrade === self { session.upgrade = nil }
                completion(failure.map(upgradeFailure))
            case .ignored(let why):
                if why.isContractViolation {
                    logger.error("session \(session.profileName): upgrade ignored an input it cannot get (\(why)) in \(machine.state)")
                } else {
                    logger.debug("session \(session.profileName): upgrade input ignored (\(why))")
                }
            }
        }
    }

    private func upgradeFailure(_ failure: UpgradeMachine.Failure) -> UpgradeFailure {
        UpgradeFailure(
            profile: session.profileName, reason: failure.reason.rawValue, description: failure.description,
            log: failure.withNewLog ? newLog : [])
    }

    /// The old run has exited: its interface goes (settings first, then every descriptor of it) and a
    /// TUN with `framing` takes its place, under the same name if that is free.
    private func replaceTun(framing: TunFraming) {
        let name = kept?.name ?? oldRun.tun.name
        supervisor.releaseInterface(of: oldRun, session: session)
        kept?.descriptor.close()
        kept = nil
        do {
            let tun = try supervisor.launcher.createTun(framing: framing, preferring: name)
            kept = tun
            supervisor.logger.notice("session \(session.profileName): new TUN \(tun.name) (\(framing.rawValue)) for the upgrade")
            feed(.tunReplaced)
        } catch {
            feed(.replaceTunFailed(error.description))
        }
    }

    private func spawn(_ version: UpgradeMachine.Version, on tun: TunDevice?) {
        let info = version == .target ? to : from
        guard let tun, let current = supervisor.targets.launchTarget(profileName: session.profileName) else {
            return feed(.spawnFailed("the profile or its TUN is no longer usable"))
        }
        do {
            let run = try supervisor.launcher.launch(
                LaunchTarget(profile: current.profile, extensionInfo: info, secrets: current.secrets), tun: .duplicate(tun),
                sessionID: session.info.id, requestedAt: session.info.requestedAt, connectedBy: session.info.connectedBy,
                base: session.run?.record)
            run.role = .successor
            newRun = run
            supervisor.startWatching(run, session: session)
            feed(.spawned)
        } catch {
            supervisor.logger.error("session \(session.profileName): upgrade to \(info.versionDescription): \(error)")
            feed(.spawnFailed(error.description))
        }
    }

    private func callPrepare() {
        oldRun.channel.call(ProviderMethod.prepareHandover.rawValue) { [self] result in
            switch result {
            case .success(let reply):
                prepared = (reply.parameters["state"]?.stringValue ?? "", reply.descriptors)
                checkSession()
                feed(.prepared)
            case .failure(let error):
                checkSession()
                feed(.prepareFailed(Self.callError(error)))
            }
        }
    }

    private func callImport() {
        guard let run = newRun, let handover = prepared,
            let parameters = supervisor.startParameters(session, interface: oldRun.tun.name, state: handover.state)
        else {
            prepared?.descriptors.forEach { $0.close() }
            prepared = nil
            return feed(.parametersUnavailable)
        }
        prepared = nil  // the descriptors go with the call
        run.channel.call(parameters.method.rawValue, parameters: parameters.jsonValue, passing: handover.descriptors) { [self] result in
            checkSession()
            switch result {
            case .success: feed(.imported)
            case .failure(let error): feed(.importFailed(Self.callError(error)))
            }
        }
    }

    private func callStart() {
        guard let run = newRun, let interface = kept?.name, let parameters = supervisor.startParameters(session, interface: interface)
        else { return feed(.parametersUnavailable) }
        run.channel.call(parameters.method.rawValue, parameters: parameters.jsonValue) { [self] result in
            switch result {
            case .success: feed(.started)
            case .failure(let error): feed(.startFailed(Self.callError(error)))
            }
        }
    }

    static func callError(_ error: VarlinkPeerCallError) -> UpgradeMachine.CallError {
        switch error {
        case .remote(let remote): return .remote(remote.parameters["description"]?.stringValue ?? remote.description)
        case .closed(let reason): return .closed("\(reason)")
        }
    }

    static func text(of error: VarlinkPeerCallError) -> String { callError(error).text }
}
