// SessionSupervisor+Runs: the life of a provider run — launched through `ProviderLauncher` for
// Connect and restarts (StartTunnel and its deadline), taken back after a crash (`adoptRun`), its
// exit and calls routed by its role (`runExited`, `providerCall`), stopped, killed and torn down
// (network settings reverted, DNS through `SessionDNS`, killed processes reaped off the queue).

import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch
import FoundationEssentials

extension SessionSupervisor {
    // MARK: launch

    func launchFailed(_ session: TunnelSession, _ reason: SessionFailure.Reason, _ description: String) {
        logger.error("session \(session.profileName): \(description)")
        feed(.launchFailed(SessionFailure(reason: reason, description: description)), session)
    }

    func launch(_ session: TunnelSession) {
        dispatchPrecondition(condition: .onQueue(queue))
        // Connect hands its target over; a restart looks the profile up afresh (it may have changed).
        let handed = session.pendingTarget
        session.pendingTarget = nil
        guard let target = handed ?? targets.launchTarget(profileName: session.profileName) else {
            launchFailed(session, .extensionNotUsable, "the profile or its extension is no longer usable")
            return
        }
        let extensionInfo = target.extensionInfo
        let sessionID = WallClock.randomIdentifier()
        let run: ProviderRun
        do {
            run = try launcher.launch(
                target, tun: .create, sessionID: sessionID, requestedAt: session.info.requestedAt, connectedBy: session.pendingActor)
        } catch {
            launchFailed(session, .spawnFailed, error.description)
            return
        }
        let channel = run.channel
        let tun = run.tun
        startMonitor()
        session.run = run
        session.info.id = sessionID
        saveRecord(run)
        session.info.pid = Int64(run.process.processID)
        session.info.uid = run.record.map { Int64($0.uid) }
        session.info.containment = run.confinement?.status
        session.info.interface = tun.name
        session.info.extensionVersion = extensionInfo.version
        session.info.connectedBy = session.pendingActor
        session.info.connectedAt = nil
        session.info.counters = SessionCounters()

        startWatching(run, session: session)
        run.startDeadline = schedule(after: configuration.timing.startTimeout) { [weak self, weak session, weak run] in
            guard let self, let session, let run, session.run === run else { return }
            self.logger.warning("session \(session.profileName): StartTunnel did not finish in time; killing the provider")
            self.feed(.startTimedOut, session)
        }
        let parameters = Self.startParameters(target, session: session, interface: tun.name)
        channel.call(parameters.method.rawValue, parameters: parameters.jsonValue) { [weak self, weak session, weak run] result in
            guard let self, let session, let run, session.run === run else { return }
            run.startDeadline?.cancel()
            run.startDeadline = nil
            switch result {
            case .success:
                self.feed(.started, session)
                run.record?.connectedAt = session.info.connectedAt
                self.saveRecord(run)
                self.updateStatsTimer()
            case .failure(.remote(let error)):
                run.drainOutput()
                let description = error.parameters["description"]?.stringValue ?? error.description
                self.feed(
                    .startFailed(
                        SessionFailure(
                            reason: .startFailed, description: "StartTunnel failed: \(description)",
                            log: run.log.lastLines(ProviderRun.failureLogLines))), session)
            case .failure(.closed):
                break  // the exit (pidfd) reports what happened
            }
        }
    }

    /// Wires a re-adopted run into its session: channel, exit and output watching, the connected
    /// state (reason readopted), counters and the link monitor.
    func adoptRun(_ run: ProviderRun, session: TunnelSession) {
        startMonitor()
        startWatching(run, session: session)
        perform(session.machine.handle(.readopted), session)
        saveRecord(run)
        updateStatsTimer()
    }

    // MARK: one route for every run's exit and calls

    /// Starts the run's exit and output sources and serves its channel; both route by the run's role.
    func startWatching(_ run: ProviderRun, session: TunnelSession) {
        run.watch(on: queue) { [weak self, weak session] run in
            guard let self, let session else { return }
            self.runExited(run, session: session)
        }
        run.channel.onCall = { [weak self, weak session, weak run] call, responder in
            guard let self, let session, let run else {
                return responder.fail(ProviderError.notReady(state: "disconnected"))
            }
            self.providerCall(call, responder: responder, run: run, session: session)
        }
        run.channel.onClose = { [weak self, weak session, weak run] reason in
            guard let self, let session, let run else { return }
            self.providerChannelClosed(reason, run: run, session: session)
        }
        run.channel.start()
    }

    /// A run's pidfd polled readable. An upgrade that watches the run decides first; otherwise the
    /// session's run ending is the session's provider exiting, and a superseded one is released.
    func runExited(_ run: ProviderRun, session: TunnelSession) {
        dispatchPrecondition(condition: .onQueue(queue))
        let ended: ProcessExit?
        do { ended = try run.collectExit() } catch {
            logger.error("session \(session.profileName): waiting for provider \(run.process.processID): \(error)")
            ended = run.exit == nil ? .signaled(9) : nil
            run.exit = run.exit ?? ended
        }
        guard let exit = ended else { return }  // not ended yet, or already handled
        if let upgrade = session.upgrade, upgrade.oldRun === run, upgrade.machine.watchesOldExit { return upgrade.oldRunExited() }
        if let upgrade = session.upgrade, upgrade.newRun === run, upgrade.machine.watchesNewRun { return upgrade.newRunExited(exit) }
        switch run.role {
        case .session where session.run === run:
            sessionRunExited(session, run)
        case .session, .successor, .superseded:
            logger.info("session \(session.profileName): provider \(run.process.processID) (\(run.role)) \(exit)")
            superseded[ObjectIdentifier(run)] = nil
            if session.run !== run { run.close() }
        }
    }

    /// The session's own provider ended (its exit collected): the machine decides what follows.
    func sessionRunExited(_ session: TunnelSession, _ run: ProviderRun) {
        guard let exit = run.exit else { return }
        logger.notice("session \(session.profileName): provider \(run.process.processID) \(exit)")
        feed(.providerExited(run.failure(for: exit)), session)
        // A machine that ignored the exit (it should not) must still not leak the run.
        if session.run === run { tearDown(session) }
    }

    /// A call from a provider, routed by its run's role.
    func providerCall(_ call: VarlinkPeerCall, responder: VarlinkPeerResponder, run: ProviderRun, session: TunnelSession) {
        dispatchPrecondition(condition: .onQueue(queue))
        switch run.role {
        case .session where session.run === run:
            handleProviderCall(call, responder: responder, session: session, run: run)
        case .successor where session.upgrade?.newRun === run:
            session.upgrade?.successorCall(call, responder: responder)
        case .superseded:
            responder.fail(ProviderError.notReady(state: "superseded"))
        case .session, .successor:
            responder.fail(ProviderError.notReady(state: "disconnected"))
        }
    }

    /// Runs `body` on the manager queue after `delay`; cancel the returned item to call it off.
    func schedule(after delay: Duration, _ body: @escaping () -> Void) -> DispatchWorkItem {
        let item = DispatchWorkItem(block: body)
        queue.asyncAfter(deadline: .now() + delay.dispatchInterval, execute: item)
        return item
    }

    /// Removes a run's record and rendezvous directory (descriptor-relative: nothing is followed).
    func removeRecord(id: String) {
        if let error = SessionRecord.remove(runtimeDirectory: configuration.runtimeDirectory, id: id) {
            logger.warning("removing the rendezvous directory of \(id): \(error)")
        }
    }

    func saveRecord(_ run: ProviderRun) {
        guard let record = run.record else { return }
        do { try record.write(runtimeDirectory: configuration.runtimeDirectory) } catch {
            logger.warning("session \(record.profile): writing its record: \(error); it will not survive a culvertd crash")
        }
    }

    // MARK: stop and exit

    func stop(_ session: TunnelSession, reason: StopReason) {
        guard let run = session.run else { return }
        run.startDeadline?.cancel()
        run.startDeadline = nil
        let grace = DispatchWorkItem { [weak self, weak session, weak run] in
            guard let self, let session, let run, session.run === run else { return }
            self.logger.warning("session \(session.profileName): provider did not exit within the stop grace period; killing it")
            self.feed(.stopTimedOut, session)
        }
        run.stopDeadline = grace
        queue.asyncAfter(deadline: .now() + configuration.timing.stopTimeout.dispatchInterval, execute: grace)
        run.channel.call(ProviderMethod.stopTunnel.rawValue, parameters: StopTunnelParameters(reason: reason.rawValue).jsonValue) { _ in
            // The exit is what ends the stop; the reply only says the provider heard it.
        }
    }

    func killRun(_ run: ProviderRun) {
        run.killedByDaemon = true
        do { _ = try run.process.kill() } catch { logger.error("killing provider \(run.process.processID): \(error)") }
    }

    /// Takes the run away: network settings, TUN, channel, record. Returns the session id whose
    /// DNS still has to be reverted (asynchronously), or nil if the session had none.
    @discardableResult
    func tearDown(_ session: TunnelSession) -> String? {
        guard let run = session.run else { return nil }
        session.run = nil
        if run.exit == nil { killRun(run) }
        revertNetwork(run, session: session)
        run.drainOutput()
        session.lastLog = run.log
        let recordID = run.record?.id ?? session.info.id
        let hadDNS = session.info.dnsBackend != nil
        session.info.pid = nil
        session.info.containment = nil
        session.info.interface = nil
        session.info.addresses = []
        session.info.routes = []
        session.info.fullTunnel = false
        showDNS(nil, session)
        reap(run)
        // After reap: the run's cgroup is empty, so nothing of the provider can change its directory now.
        removeRecord(id: recordID)
        return hadDNS ? session.info.id : nil
    }

    /// Closes what the run holds; one culvertd killed is reaped off the manager queue.
    func reap(_ run: ProviderRun) {
        guard run.exit == nil else { return run.close() }
        let process = run.process
        run.close(keepingProcess: true)
        // SIGKILL was sent: reap it so no zombie is left, without waiting on the manager queue.
        DispatchQueue.global().async {
            _ = try? process.waitForExit(timeout: .seconds(1))  // try?: nothing more to do if it cannot be reaped
            process.close()
        }
    }
}
