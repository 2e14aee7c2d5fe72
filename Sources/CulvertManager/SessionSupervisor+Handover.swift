// SessionSupervisor+Handover: live extension upgrade of connected sessions (contract 9).
//
// With the `handover` capability (make-before-break; the session stays connected throughout):
//
//   new version spawned on a dup of the session's TUN, own channel
//   old ◄─ PrepareHandover ── state + sockets ─► new ◄─ ImportHandover ── reply (healthy)
//   switch: the session's run is the new one (settings move with it), old ◄─ StopTunnel(superseded)
//   any failure (spawn, exit, error, deadline = start timeout): new killed, old ◄─ ResumeAfterFailedHandover
//
// Without it (stop → start; the session is reasserting meanwhile, never disconnected):
//
//   old ◄─ StopTunnel(superseded) … exits ─► new spawned on the kept TUN ◄─ StartTunnel ── reply
//   failure: the old version is started again the same way; if that fails too the session fails.
//
// The TUN never closes: culvertd keeps a descriptor of it from the first run to the last, and
// the network settings stay applied (they move from the old run to the new one).

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertVarlink
import Dispatch

/// Why a session's upgrade was abandoned.
struct UpgradeFailure: Error {
    var profile: String
    /// spawn_failed, new_provider_exited, prepare_failed, import_failed, health_timeout, session_changed.
    var reason: String
    var description: String
    /// The new version's last output lines.
    var log: [String]
}

/// One session's handover in progress. Confined to the manager queue.
final class HandoverAttempt: @unchecked Sendable {  // confined to the manager queue
    let session: TunnelSession
    let oldRun: ProviderRun
    let newRun: ProviderRun
    let from: ExtensionInfo
    let to: ExtensionInfo
    let completion: (UpgradeFailure?) -> Void
    var deadline: DispatchWorkItem?
    /// The old provider paused its data plane: it must be told to resume if we abort.
    var prepared = false
    var finished = false

    init(
        session: TunnelSession, oldRun: ProviderRun, newRun: ProviderRun, from: ExtensionInfo, to: ExtensionInfo,
        completion: @escaping (UpgradeFailure?) -> Void
    ) {
        self.session = session
        self.oldRun = oldRun
        self.newRun = newRun
        self.from = from
        self.to = to
        self.completion = completion
    }
}

extension SessionSupervisor {
    /// Profiles whose session runs `identifier` with a provider up (what a live upgrade moves).
    func upgradableSessions(of identifier: String) -> [TunnelSession] {
        sessions.keys.sorted().compactMap { sessions[$0] }.filter {
            $0.info.extensionIdentifier == identifier && $0.run != nil
                && ($0.machine.state == .connected || $0.machine.state == .reasserting)
        }
    }

    /// Upgrades every connected session of `from.identifier` to `to`, one after the other. At the
    /// first failure the sessions already moved are moved back to `from` (whose copy is still in
    /// the store: the registry is only committed after all succeeded), so every session runs the
    /// version the registry names. `completion` gets nil when all of them run the new version.
    func upgradeSessions(from: ExtensionInfo, to: ExtensionInfo, completion: @escaping (UpgradeFailure?) -> Void) {
        let handover = to.capabilities.contains(BundleCapability.handover.rawValue)
        upgradesInProgress.insert(to.identifier)
        var pending = upgradableSessions(of: from.identifier)
        var moved: [TunnelSession] = []
        func next() {
            guard !pending.isEmpty else {
                upgradesInProgress.remove(to.identifier)
                completion(nil)
                return
            }
            let session = pending.removeFirst()
            let done: (UpgradeFailure?) -> Void = { [weak self] failure in
                guard let self else { return }
                if let failure {
                    self.moveBack(moved, from: to, to: from) {
                        self.upgradesInProgress.remove(to.identifier)
                        completion(failure)
                    }
                } else {
                    moved.append(session)
                    next()
                }
            }
            guard session.run != nil, session.machine.state == .connected || session.machine.state == .reasserting else {
                next()  // it ended meanwhile: nothing to move
                return
            }
            if handover {
                beginHandover(session, from: from, to: to, completion: done)
            } else {
                restartForUpgrade(session, from: from, to: to, completion: done)
            }
        }
        next()
    }

    /// After a failed upgrade, returns the sessions that had already moved to the version the
    /// registry keeps; one that cannot go back stays on the new version and is logged.
    private func moveBack(_ sessions: [TunnelSession], from: ExtensionInfo, to: ExtensionInfo, then: @escaping () -> Void) {
        var pending = sessions
        let handover = to.capabilities.contains(BundleCapability.handover.rawValue)
        func step() {
            guard !pending.isEmpty else { return then() }
            let session = pending.removeFirst()
            guard session.run != nil, session.machine.state == .connected || session.machine.state == .reasserting else { return step() }
            logger.notice("session \(session.profileName): moving back to \(to.versionDescription) after the failed upgrade")
            let finish: (UpgradeFailure?) -> Void = { [weak self] failure in
                if let failure {
                    self?.logger.error(
                        "session \(session.profileName): could not move back to \(to.versionDescription) (\(failure.reason)): it keeps \(from.versionDescription)"
                    )
                }
                step()
            }
            if handover {
                beginHandover(session, from: from, to: to, completion: finish)
            } else {
                restartForUpgrade(session, from: from, to: to, completion: finish)
            }
        }
        step()
    }

    // MARK: spawning a successor on the same TUN

    /// Starts `info`'s provider on a duplicate of `tun` with a new channel and record. Its exit is
    /// watched by `onExit` (a source already resumed); its output goes into its own log.
    private func spawnSuccessor(
        _ session: TunnelSession, info: ExtensionInfo, tun: TunDevice, onExit: @escaping (ProviderRun) -> Void
    ) -> Result<ProviderRun, UpgradeFailure> {
        guard let current = targets.launchTarget(profileName: session.profileName) else {
            return .failure(
                UpgradeFailure(
                    profile: session.profileName, reason: "session_changed", description: "the profile is no longer usable", log: []))
        }
        let run: ProviderRun
        do {
            run = try launcher.launch(
                LaunchTarget(profile: current.profile, extensionInfo: info, secrets: current.secrets), tun: .duplicate(tun), sessionID: session.info.id,
                requestedAt: session.info.requestedAt, connectedBy: session.info.connectedBy, base: session.run?.record)
        } catch {
            logger.error("session \(session.profileName): upgrade to \(info.versionDescription): \(error)")
            return .failure(UpgradeFailure(profile: session.profileName, reason: "spawn_failed", description: error.description, log: []))
        }
        overrideExit(run, onExit)
        let exitSource = watchExit(run, session: session)
        run.exitSource = exitSource
        watchOutput(run)
        exitSource.resume()
        return .success(run)
    }

    /// Routes the run's exit (once it happened: reaped, output drained) to `handler` instead of the session.
    private func overrideExit(_ run: ProviderRun, _ handler: @escaping (ProviderRun) -> Void) {
        run.exitOverride = { run in
            guard run.exit == nil, let ended = try? run.endedExit() else { return }  // try?: not ended yet
            run.exit = ended
            run.exitSource?.cancel()
            run.exitSource = nil
            for _ in 0..<16 where !run.drainOutput() {}
            run.log.finish()
            handler(run)
        }
    }

    /// The parameters of StartTunnel (and, with `state`, ImportHandover) for the session.
    private func startParameters(_ session: TunnelSession, interface: String, state: String? = nil) -> JSONValue? {
        guard let target = targets.launchTarget(profileName: session.profileName) else { return nil }
        var members: [String: JSONValue] = [
            "session": [
                "profile": .string(target.profile.name), "session": .string(session.info.id), "interface": .string(interface),
                "protocol": .int(Self.channelProtocol),
            ],
            "options": .object(target.profile.options.mapValues { .string($0) }),
            "secrets": .object(target.secrets.mapValues { .string($0) }),
        ]
        if let state { members["state"] = .string(state) }
        return .object(members)
    }

    /// Ends a run culvertd no longer uses for the session: when it exits it is reaped and closed
    /// (its settings have moved to the successor). Killed after the stop grace period.
    private func retire(_ run: ProviderRun, session: TunnelSession, stop reason: StopReason?) {
        run.cancelTimers()
        run.channel.onCall = { _, responder in
            responder.fail(VarlinkError("io.culvert.Provider.NotReady", ["state": .string("superseded")]))
        }
        let finish: (ProviderRun) -> Void = { [weak self] run in
            run.exitOverride = nil  // ends the cycle that kept the retired run alive until it exited
            run.close()
            self?.logger.info(
                "session \(session.profileName): superseded provider \(run.process.processID) \(run.exit.map { "\($0)" } ?? "gone")")
        }
        guard run.exit == nil else { return finish(run) }
        // The session no longer holds the run: its exit override holds it (a cycle) until it exits.
        overrideExit(run) { exited in
            withExtendedLifetime(run) { finish(exited) }
        }
        let kill = DispatchWorkItem { [weak self, weak run] in
            guard let self, let run, run.exit == nil else { return }
            self.logger.warning("session \(session.profileName): superseded provider \(run.process.processID) did not exit; killing it")
            self.killRun(run)
        }
        run.stopDeadline = kill
        queue.asyncAfter(deadline: .now() + configuration.timing.stopTimeout.dispatchInterval, execute: kill)
        if let reason { run.channel.call("io.culvert.Provider.StopTunnel", parameters: ["reason": .string(reason.rawValue)]) { _ in } }
    }

    /// Makes `newRun` the session's run: settings, DNS and the record move over from `oldRun`.
    private func switchRun(_ session: TunnelSession, from oldRun: ProviderRun, to newRun: ProviderRun, version: String) {
        newRun.applied = oldRun.applied
        newRun.plan = oldRun.plan
        newRun.record?.settings = oldRun.record?.settings
        newRun.record?.connectedAt = oldRun.record?.connectedAt
        oldRun.applied = nil
        oldRun.plan = nil
        if let id = oldRun.record?.id { SessionRecord.remove(runtimeDirectory: configuration.runtimeDirectory, id: id) }
        session.run = newRun
        serveChannel(of: newRun, session: session)
        newRun.exitOverride = nil
        session.info.pid = Int64(newRun.process.processID)
        session.info.extensionVersion = version
        saveRecord(newRun)
        events.statusChanged()
    }

    /// Kills a successor that did not take over, reaps it and closes what it holds.
    private func discard(_ run: ProviderRun) -> [String] {
        run.exitOverride = nil
        run.cancelTimers()
        run.exitSource?.cancel()
        run.exitSource = nil
        if run.exit == nil {
            killRun(run)
            run.exit = try? run.process.waitForExit(timeout: .seconds(1))  // try?: nothing more to do if it cannot be reaped
        }
        for _ in 0..<16 where !run.drainOutput() {}
        run.log.finish()
        let log = run.log.lastLines(Self.failureLogLines)
        if let id = run.record?.id { SessionRecord.remove(runtimeDirectory: configuration.runtimeDirectory, id: id) }
        run.close()
        return log
    }

    // MARK: make-before-break

    private func beginHandover(
        _ session: TunnelSession, from: ExtensionInfo, to: ExtensionInfo, completion: @escaping (UpgradeFailure?) -> Void
    ) {
        guard let oldRun = session.run else { return completion(nil) }
        events.publish(
            EventBody(
                kind: .handoverStarted, reason: "handover", extensionInfo: to, previousVersion: from.versionDescription,
                session: session.info))
        var attemptRef: HandoverAttempt?
        let spawned = spawnSuccessor(session, info: to, tun: oldRun.tun) { [weak self] run in
            guard let self, let attempt = attemptRef else { return }
            let text = run.exit.map { "the new version exited during the handover (\($0))" } ?? "the new version exited"
            self.abandon(attempt, reason: "new_provider_exited", text)
        }
        let newRun: ProviderRun
        switch spawned {
        case .success(let run): newRun = run
        case .failure(let failure):
            publishUpgradeFailed(session, from: from, to: to, failure)
            return completion(failure)
        }
        let attempt = HandoverAttempt(session: session, oldRun: oldRun, newRun: newRun, from: from, to: to, completion: completion)
        attemptRef = attempt
        // The running version ending (a Disconnect, a crash) ends the attempt first, so the new one's
        // copy of the TUN is gone before the session is torn down and its clients are answered.
        oldRun.exitOverride = { [weak self, weak attempt] run in
            run.exitOverride = nil
            guard let self else { return }
            if let attempt { self.abandon(attempt, reason: "session_changed", "the running version ended during the handover") }
            self.providerExited(session, run)
        }
        // Until it has taken over, the new version's requests act on the session's (shared) TUN settings.
        newRun.channel.onCall = { [weak self, weak attempt] call, responder in
            guard let self, let attempt, !attempt.finished, attempt.session.run === attempt.oldRun else {
                responder.fail(VarlinkError("io.culvert.Provider.NotReady", ["state": .string("handover")]))
                return
            }
            switch call.message.member {
            case "SetTunnelNetworkSettings", "Protect":
                self.handleProviderCall(call, responder: responder, session: attempt.session, run: attempt.oldRun)
            case "CancelTunnel":
                responder.reply([:])
                self.abandon(attempt, reason: "import_failed", call.parameters["error"]?.stringValue ?? "the new version cancelled")
            default:
                responder.reply([:])  // SetReasserting while taking over: the session stays as it is
            }
        }
        newRun.channel.start()
        let deadline = DispatchWorkItem { [weak self, weak attempt] in
            guard let self, let attempt else { return }
            self.abandon(
                attempt, reason: "health_timeout", "the new version did not confirm within \(self.configuration.timing.startTimeout)")
        }
        attempt.deadline = deadline
        queue.asyncAfter(deadline: .now() + configuration.timing.startTimeout.dispatchInterval, execute: deadline)

        oldRun.channel.call("io.culvert.Provider.PrepareHandover") { [weak self] result in
            guard let self else { return }
            if case .success(let reply) = result {
                attempt.prepared = true
                if attempt.finished {
                    // Abandoned while the old version was preparing (the new one died early): it paused, so it resumes.
                    reply.descriptors.forEach { $0.close() }
                    self.resume(attempt)
                    return
                }
            }
            guard !attempt.finished else { return }
            guard session.run === oldRun, session.machine.state == .connected || session.machine.state == .reasserting else {
                if case .success(let reply) = result { reply.descriptors.forEach { $0.close() } }
                self.abandon(attempt, reason: "session_changed", "the session changed state during the handover")
                return
            }
            switch result {
            case .failure(let error):
                self.abandon(attempt, reason: "prepare_failed", "PrepareHandover failed in the running version: \(Self.text(of: error))")
            case .success(let reply):
                attempt.prepared = true
                guard
                    let parameters = self.startParameters(
                        session, interface: oldRun.tun.name, state: reply.parameters["state"]?.stringValue ?? "")
                else {
                    reply.descriptors.forEach { $0.close() }
                    self.abandon(attempt, reason: "session_changed", "the profile or its extension is no longer usable")
                    return
                }
                newRun.channel.call("io.culvert.Provider.ImportHandover", parameters: parameters, passing: reply.descriptors) {
                    [weak self] result in
                    guard let self, !attempt.finished else { return }
                    switch result {
                    case .failure(.closed):
                        break  // its exit reports what happened
                    case .failure(let error):
                        self.abandon(attempt, reason: "import_failed", "ImportHandover failed in the new version: \(Self.text(of: error))")
                    case .success:
                        self.completeHandover(attempt)
                    }
                }
            }
        }
    }

    private func completeHandover(_ attempt: HandoverAttempt) {
        let session = attempt.session
        guard session.run === attempt.oldRun, session.machine.state == .connected || session.machine.state == .reasserting else {
            abandon(attempt, reason: "session_changed", "the session changed state during the handover")
            return
        }
        attempt.finished = true
        attempt.deadline?.cancel()
        switchRun(session, from: attempt.oldRun, to: attempt.newRun, version: attempt.to.version)
        retire(attempt.oldRun, session: session, stop: .superseded)
        logger.notice(
            "session \(session.profileName): handed over \(attempt.from.versionDescription) → \(attempt.to.versionDescription), pid \(attempt.newRun.process.processID)"
        )
        events.publish(
            EventBody(
                kind: .handoverCompleted, reason: "handover", extensionInfo: attempt.to, previousVersion: attempt.from.versionDescription,
                session: session.info))
        attempt.completion(nil)
    }

    /// Gives up a handover: the new version is killed, the old one carries on.
    private func abandon(_ attempt: HandoverAttempt, reason: String, _ description: String) {
        guard !attempt.finished else { return }
        attempt.finished = true
        attempt.deadline?.cancel()
        attempt.oldRun.exitOverride = nil
        let log = discard(attempt.newRun)
        let session = attempt.session
        if attempt.prepared { resume(attempt) }
        let failure = UpgradeFailure(profile: session.profileName, reason: reason, description: description, log: log)
        logger.error("session \(session.profileName): handover to \(attempt.to.versionDescription) abandoned (\(reason)): \(description)")
        publishUpgradeFailed(session, from: attempt.from, to: attempt.to, failure)
        attempt.completion(failure)
    }

    /// Tells the old version, paused by PrepareHandover, to carry on.
    private func resume(_ attempt: HandoverAttempt) {
        let session = attempt.session
        guard session.run === attempt.oldRun, attempt.oldRun.exit == nil else { return }
        attempt.oldRun.channel.call("io.culvert.Provider.ResumeAfterFailedHandover") { [weak self] result in
            if case .failure(let error) = result {
                self?.logger.error("session \(session.profileName): the running version did not resume: \(Self.text(of: error))")
            }
        }
    }

    private func publishUpgradeFailed(_ session: TunnelSession, from: ExtensionInfo, to: ExtensionInfo, _ failure: UpgradeFailure) {
        events.publish(
            EventBody(
                kind: .upgradeFailed, reason: failure.reason, extensionInfo: to, previousVersion: from.versionDescription,
                error: failure.description, session: session.info, log: failure.log))
    }

    static func text(of error: VarlinkPeerCallError) -> String {
        switch error {
        case .remote(let remote): return remote.parameters["description"]?.stringValue ?? remote.description
        case .closed(let reason): return "the channel closed (\(reason))"
        }
    }

    // MARK: stop → start

    private func restartForUpgrade(
        _ session: TunnelSession, from: ExtensionInfo, to: ExtensionInfo, completion: @escaping (UpgradeFailure?) -> Void
    ) {
        guard let oldRun = session.run else { return completion(nil) }
        events.publish(
            EventBody(
                kind: .handoverStarted, reason: "restart", extensionInfo: to, previousVersion: from.versionDescription,
                session: session.info
            ))
        feed(.upgradeRestarting, session)
        // Our own descriptor of the TUN keeps the interface (and its settings) while no provider runs.
        let kept: TunDevice
        do {
            kept = TunDevice(
                descriptor: try oldRun.tun.descriptor.duplicate(), name: oldRun.tun.name, interfaceIndex: oldRun.tun.interfaceIndex)
        } catch {
            let failure = UpgradeFailure(
                profile: session.profileName, reason: "spawn_failed", description: "duplicating the TUN descriptor: \(error)", log: [])
            feed(.upgradeRestarted, session)
            publishUpgradeFailed(session, from: from, to: to, failure)
            return completion(failure)
        }
        oldRun.channel.onCall = { _, responder in
            responder.fail(VarlinkError("io.culvert.Provider.NotReady", ["state": .string("superseded")]))
        }
        let grace = DispatchWorkItem { [weak self, weak oldRun] in
            guard let self, let oldRun, oldRun.exit == nil else { return }
            self.killRun(oldRun)
        }
        overrideExit(oldRun) { [weak self] oldRun in
            grace.cancel()
            self?.startSuccessor(
                session, oldRun: oldRun, kept: kept, info: to, from: from, to: to, rollingBack: false, completion: completion)
        }
        queue.asyncAfter(deadline: .now() + configuration.timing.stopTimeout.dispatchInterval, execute: grace)
        oldRun.channel.call("io.culvert.Provider.StopTunnel", parameters: ["reason": .string(StopReason.superseded.rawValue)]) { _ in }
    }

    /// Starts `info`'s provider on the kept TUN after the old one exited; on failure starts the
    /// old version again (once), and if that fails too the session fails like any provider exit.
    private func startSuccessor(
        _ session: TunnelSession, oldRun: ProviderRun, kept: TunDevice, info: ExtensionInfo, from: ExtensionInfo, to: ExtensionInfo,
        rollingBack: Bool, completion: @escaping (UpgradeFailure?) -> Void
    ) {
        func failed(_ failure: UpgradeFailure) {
            guard !rollingBack else {
                // Neither version runs: the session ends as if the provider had exited.
                kept.descriptor.close()
                session.run = oldRun
                feed(.providerExited(SessionFailure(reason: .providerExited, description: failure.description, log: failure.log)), session)
                if session.run === oldRun { tearDown(session) }
                return completion(failure)
            }
            publishUpgradeFailed(session, from: from, to: to, failure)
            startSuccessor(session, oldRun: oldRun, kept: kept, info: from, from: from, to: to, rollingBack: true) { _ in
                completion(failure)
            }
        }
        guard session.run === oldRun, session.machine.state == .reasserting else {
            kept.descriptor.close()
            if session.run === oldRun {
                feed(.providerExited(SessionFailure(reason: .providerExited, description: "the provider stopped for an upgrade")), session)
                if session.run === oldRun { tearDown(session) }
            }
            return completion(
                UpgradeFailure(
                    profile: session.profileName, reason: "session_changed", description: "the session was stopped during the upgrade",
                    log: []))
        }
        var started = false
        var newRunRef: ProviderRun?
        let spawned = spawnSuccessor(session, info: info, tun: kept) { [weak self] run in
            guard let self, !started else { return }
            started = true
            let log = self.discard(run)
            failed(
                UpgradeFailure(
                    profile: session.profileName, reason: "new_provider_exited",
                    description: "the new version exited while starting (\(run.exit.map { "\($0)" } ?? "?"))", log: log))
        }
        guard case .success(let newRun) = spawned else {
            if case .failure(let failure) = spawned { failed(failure) }
            return
        }
        newRunRef = newRun
        // While it starts, its settings replace the old run's (same TUN), which still holds them.
        newRun.channel.onCall = { [weak self] call, responder in
            guard let self, session.run === oldRun else {
                responder.fail(VarlinkError("io.culvert.Provider.NotReady", ["state": .string("upgrade")]))
                return
            }
            switch call.message.member {
            case "SetTunnelNetworkSettings", "Protect": self.handleProviderCall(call, responder: responder, session: session, run: oldRun)
            default: responder.reply([:])
            }
        }
        newRun.channel.start()
        let deadline = DispatchWorkItem { [weak self] in
            guard let self, !started, let run = newRunRef else { return }
            started = true
            let log = self.discard(run)
            failed(
                UpgradeFailure(
                    profile: session.profileName, reason: "health_timeout", description: "StartTunnel did not finish in time", log: log))
        }
        queue.asyncAfter(deadline: .now() + configuration.timing.startTimeout.dispatchInterval, execute: deadline)
        guard let parameters = startParameters(session, interface: kept.name) else {
            started = true
            deadline.cancel()
            failed(
                UpgradeFailure(
                    profile: session.profileName, reason: "session_changed", description: "the profile is gone", log: discard(newRun)))
            return
        }
        newRun.channel.call("io.culvert.Provider.StartTunnel", parameters: parameters) { [weak self] result in
            guard let self, !started else { return }
            if case .failure(.closed) = result { return }  // its exit (or the deadline) reports what happened
            started = true
            deadline.cancel()
            guard case .success = result else {
                if case .failure(let error) = result {
                    failed(
                        UpgradeFailure(
                            profile: session.profileName, reason: "start_failed", description: Self.text(of: error),
                            log: self.discard(newRun)))
                }
                return
            }
            kept.descriptor.close()
            self.switchRun(session, from: oldRun, to: newRun, version: info.version)
            oldRun.close()
            self.feed(.upgradeRestarted, session)
            if !rollingBack {
                self.events.publish(
                    EventBody(
                        kind: .handoverCompleted, reason: "restart", extensionInfo: to, previousVersion: from.versionDescription,
                        session: session.info))
            }
            completion(nil)
        }
    }
}
