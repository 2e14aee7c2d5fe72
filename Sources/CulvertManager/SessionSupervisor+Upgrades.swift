// SessionSupervisor+Upgrades: live extension upgrade of connected sessions (contract 9) — which
// sessions move and in what order, and what moving a session's run from one provider process to
// another means. Each session's upgrade is an `UpgradeDriver` performing its `UpgradeMachine`:
//
//   handover (bundle capability `handover`, make-before-break; the session stays connected):
//     new version spawned on a dup of the session's TUN, own channel
//     old ◄─ PrepareHandover ── state + sockets ─► new ◄─ ImportHandover ── reply (healthy)
//     switch: the session's run is the new one (settings move with it), old ◄─ StopTunnel(superseded)
//     any failure: new killed, old ◄─ ResumeAfterFailedHandover (if it paused)
//   stop → start (otherwise; the session is reasserting meanwhile, never disconnected):
//     old ◄─ StopTunnel(superseded) … exits ─► new spawned on the kept TUN ◄─ StartTunnel ── reply
//     failure: the old version is started again the same way; if that fails too the session fails.
//
// The TUN never closes: culvertd keeps a descriptor of it from the first run to the last, and the
// network settings stay applied (they move from the old run to the new one) — unless the versions
// differ in `tun-offload` (reason tun_framing_changed): then, once the old run has exited, its
// settings are taken away and its TUN closed (`releaseInterface`), the new version starts on a new
// TUN with its own framing, and the settings it sends are applied to that TUN (`actsForSession`).

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch

extension SessionSupervisor {
    /// Profiles whose session runs `identifier` with a provider up (what a live upgrade moves).
    func upgradableSessions(of identifier: String) -> [TunnelSession] {
        sessions.keys.sorted().compactMap { sessions[$0] }.filter {
            $0.info.extensionIdentifier == identifier && $0.run != nil
                && ($0.machine.state == .connected || $0.machine.state == .reasserting)
        }
    }

    /// Upgrades every connected session of `from.identifier` to `to`, one after the other, as an
    /// `UpgradeBatch` decides: at the first failure the sessions already moved are moved back to
    /// `from` (whose copy is still in the store: the registry is only committed after all
    /// succeeded), so every session runs the version the registry names. `completion` gets nil when
    /// all of them run the new version, else the first failure.
    func upgradeSessions(from: ExtensionInfo, to: ExtensionInfo, completion: @escaping (UpgradeFailure?) -> Void) {
        dispatchPrecondition(condition: .onQueue(queue))
        upgradesInProgress.insert(to.identifier)
        var batch = UpgradeBatch(profiles: upgradableSessions(of: from.identifier).map(\.profileName))
        var firstFailure: UpgradeFailure?
        func perform(_ step: UpgradeBatch.Step) {
            let profile: String
            let back: Bool
            switch step {
            case .done:
                upgradesInProgress.remove(to.identifier)
                return completion(firstFailure)
            case .upgrade(let name): (profile, back) = (name, false)
            case .moveBack(let name): (profile, back) = (name, true)
            }
            guard let session = sessions[profile], session.run != nil,
                session.machine.state == .connected || session.machine.state == .reasserting
            else { return perform(batch.skipped()) }  // it ended meanwhile: nothing to move
            if back { logger.notice("session \(profile): moving back to \(from.versionDescription) after the failed upgrade") }
            let driver = UpgradeDriver(session: session, from: back ? to : from, to: back ? from : to, supervisor: self) {
                [weak self] failure in
                guard let self else { return }
                if back, let failure {
                    self.logger.error(
                        "session \(profile): could not move back to \(from.versionDescription) (\(failure.reason)): it keeps \(to.versionDescription)"
                    )
                } else if firstFailure == nil {
                    firstFailure = failure
                }
                perform(batch.finished(failed: failure != nil))
            }
            driver.start()
        }
        perform(batch.start())
    }

    // MARK: moving a session's run

    /// StartTunnel's parameters (with `state`, ImportHandover's): built here only, for Connect,
    /// restarts and both kinds of upgrade.
    static func startParameters(
        _ target: LaunchTarget, session: TunnelSession, interface: String, state: String? = nil
    ) -> StartTunnelParameters {
        StartTunnelParameters(
            session: SessionContext(profile: target.profile.name, session: session.info.id, interface: interface),
            options: target.profile.options, secrets: target.secrets, state: state)
    }

    /// The same for an upgrade's new version, with the profile as it is now; nil if it is gone.
    func startParameters(_ session: TunnelSession, interface: String, state: String? = nil) -> StartTunnelParameters? {
        targets.launchTarget(profileName: session.profileName).map {
            Self.startParameters($0, session: session, interface: interface, state: state)
        }
    }

    /// Makes `newRun` the session's run: the record moves over from `oldRun`, and the settings with it
    /// if `movingSettings` (both run on one TUN); on a TUN of its own the new run keeps what it applied.
    func switchRun(_ session: TunnelSession, from oldRun: ProviderRun, to newRun: ProviderRun, version: String, movingSettings: Bool) {
        if movingSettings {
            newRun.applied = oldRun.applied
            newRun.plan = oldRun.plan
            newRun.protectedEndpoints = oldRun.protectedEndpoints
            newRun.record?.settings = oldRun.record?.settings
            oldRun.applied = nil
            oldRun.plan = nil
        }
        newRun.record?.connectedAt = oldRun.record?.connectedAt
        if let id = oldRun.record?.id { removeRecord(id: id) }
        newRun.role = .session
        session.run = newRun
        session.info.pid = Int64(newRun.process.processID)
        session.info.uid = newRun.record.map { Int64($0.uid) }
        session.info.containment = newRun.confinement?.status
        session.info.extensionVersion = version
        session.info.interface = newRun.tun.name
        saveRecord(newRun)
        events.statusChanged()
    }

    /// Ends a run the session no longer uses: StopTunnel(superseded), killed after the stop grace
    /// period; `superseded` holds it until it exits (runExited then closes it).
    func retire(_ run: ProviderRun, session: TunnelSession) {
        run.cancelTimers()
        run.role = .superseded
        guard run.exit == nil else { return run.close() }
        superseded[ObjectIdentifier(run)] = run
        run.stopDeadline = schedule(after: configuration.timing.stopTimeout) { [weak self, weak run] in
            guard let self, let run, run.exit == nil else { return }
            self.logger.warning("session \(session.profileName): superseded provider \(run.process.processID) did not exit; killing it")
            self.killRun(run)
        }
        run.channel.call(
            ProviderMethod.stopTunnel.rawValue, parameters: StopTunnelParameters(reason: StopReason.superseded.rawValue).jsonValue
        ) { _ in }
    }

    /// Kills a successor that did not take over, takes away settings it applied on a TUN of its own
    /// and closes what it holds (it is reaped off the queue); returns its last output lines.
    func discard(_ run: ProviderRun, session: TunnelSession) -> [String] {
        if run.applied != nil {
            revertNetwork(run, session: session)
            clearNetworkInfo(session)
        }
        run.cancelTimers()
        run.exitSource?.cancel()
        run.exitSource = nil
        if run.exit == nil { killRun(run) }
        for _ in 0..<16 where !run.drainOutput() {}
        run.log.finish()
        let log = run.log.lastLines(ProviderRun.failureLogLines)
        if let id = run.record?.id { removeRecord(id: id) }
        reap(run)
        return log
    }

    /// Whether `run`'s SetTunnelNetworkSettings and Protect act for `session`: its own run, or an
    /// upgrade's new version on a TUN of its own (stop → start with a new TUN) while it starts.
    func actsForSession(_ run: ProviderRun, _ session: TunnelSession) -> Bool {
        if session.run === run { return true }
        guard let upgrade = session.upgrade, upgrade.newRun === run else { return false }
        return upgrade.machine.replacesTun && upgrade.machine.watchesNewRun
    }

    /// Stop → start with a new TUN, the old run having exited: its routes, rules and addresses are
    /// taken away and everything it holds is closed (its cgroup emptied first), so its interface goes
    /// and nothing of it reaches the TUN that replaces it. The session's DNS stays until the new
    /// version's settings replace it or the session ends (it is keyed by session, not interface).
    func releaseInterface(of run: ProviderRun, session: TunnelSession) {
        let index = run.tun.interfaceIndex
        revertNetwork(run, session: session)
        run.close()
        absorbOwnChanges(on: index)
        clearNetworkInfo(session)
    }

    /// What the session shows of settings no interface carries any more.
    private func clearNetworkInfo(_ session: TunnelSession) {
        session.info.mtu = nil
        session.info.tunnelRemoteAddress = nil
        session.info.addresses = []
        session.info.routes = []
        session.info.fullTunnel = false
        events.statusChanged()
    }
}
