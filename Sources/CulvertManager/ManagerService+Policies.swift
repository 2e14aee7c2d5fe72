// ManagerService+Policies: upgrade policies (issue 16) — SetUpgradePolicy, UpgradeExtension and
// CancelUpgrade, and when a staged version replaces the running one. Each extension's decision is
// an UpgradePolicyMachine (CulvertCore, a value type); this file feeds it what happened (installs,
// traffic samples taken on a timer, sessions ending, the administrator) and carries out what it
// says through ManagerService+Staging. The registry is the durable truth (a staged version is in
// registry.json); a machine is made from it when first needed and made again after each write.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch

extension ManagerService {
    func handlePolicyCall(_ call: VarlinkCall, replier: VarlinkReplier) {
        dispatchPrecondition(condition: .onQueue(queue))
        let identifier = call.parameters["identifier"]?.stringValue ?? ""
        guard catalog.registry.extensions[identifier] != nil else { return replier.fail(.extensionNotFound(identifier: identifier)) }
        refreshDefaultUpgradePolicy()
        switch ManagerMethod(rawValue: call.message.method) {
        case .setUpgradePolicy?:
            var policy: UpgradePolicy?
            if let raw = call.parameters["policy"]?.stringValue {
                guard let parsed = UpgradePolicy(rawValue: raw) else { return replier.fail(.invalidUpgradePolicy(policy: raw)) }
                policy = parsed
            }
            setUpgradePolicy(identifier, policy, actor: actor(call), replier: replier)
        case .upgradeExtension?:
            switch decidePolicy(identifier, .ask).first {
            case .apply?:
                logger.info("extension \(identifier): staged upgrade applied at the request of uid \(call.peer.uid)")
                applyStaged(identifier, actor: actor(call), completion: extensionReply(replier))
            case .refuse(let refusal)?: replier.fail(policyRefusal(refusal, identifier))
            case .stage?, .drop?, nil: replier.fail(.noUpgradeStaged(identifier: identifier))  // ask yields neither
            }
        case .cancelUpgrade?:
            switch decidePolicy(identifier, .cancel).first {
            case .drop?:
                dropStaged(identifier, reason: "cancelled", actor: actor(call), completion: extensionReply(replier))
            case .refuse(let refusal)?: replier.fail(policyRefusal(refusal, identifier))
            case .stage?, .apply?, nil: replier.fail(.noUpgradeStaged(identifier: identifier))  // cancel yields neither
            }
        default:
            replier.fail(.methodNotImplemented(call.message.method))
        }
    }

    private func policyRefusal(_ refusal: UpgradePolicyMachine.Refusal, _ identifier: String) -> ManagerError {
        switch refusal {
        case .nothingStaged: return .noUpgradeStaged(identifier: identifier)
        case .inProgress: return .upgradeInProgress(identifier: identifier)
        }
    }

    /// The completion of UpgradeExtension and CancelUpgrade: the extension as the staging left it, or the error.
    private func extensionReply(_ replier: VarlinkReplier) -> (StagedResult) -> Void {
        { [self] result in
            switch result {
            case .success(let (info, event)):
                replier.reply(
                    encodedParameters: WireEncoding.encode(
                        WireEncoding.ExtensionReply(extensionInfo: info, seq: event?.seq ?? events.lastSeq)))
            case .failure(let error):
                replier.fail(error)
            }
        }
    }

    private func setUpgradePolicy(_ identifier: String, _ policy: UpgradePolicy?, actor: Actor, replier: VarlinkReplier) {
        commitRegistry { [self] () throws(ExtensionError) in
            let (next, _) = try catalog.settingPolicy(identifier, policy)
            return (next, next != nil)
        } then: { [self] result in
            switch result {
            case .failure(let error):
                replier.fail(wireError(error))
            case .success(let changed):
                let info = catalog.installed(identifier)
                var seq = events.lastSeq
                if changed, let info {
                    let effective = info.effectiveUpgradePolicy?.rawValue ?? "-"
                    logger.info("extension \(identifier): upgrade policy \(effective) set by uid \(actor.uid)")
                    seq = publish(EventBody(kind: .upgradePolicyChanged, actor: actor, reason: effective, extensionInfo: info)).seq
                }
                if let info {
                    replier.reply(
                        encodedParameters: WireEncoding.encode(WireEncoding.ApproveReply(extensionInfo: info, changed: changed, seq: seq)))
                } else {
                    replier.fail(.extensionNotFound(identifier: identifier))  // uninstalled while the write was queued
                }
                evaluateStaged(identifier)
            }
        }
    }

    // MARK: the machines

    /// Feeds `input` to `identifier`'s machine (made from the registry if there is none yet, and
    /// told the policy in force first) and returns what it decided; the first action counts.
    func decidePolicy(_ identifier: String, _ input: UpgradePolicyMachine.Input) -> [UpgradePolicyMachine.Action] {
        dispatchPrecondition(condition: .onQueue(queue))
        let policy = catalog.upgradePolicy(of: identifier)
        var machine =
            policyMachines[identifier]
            ?? UpgradePolicyMachine(
                policy: policy, idleInterval: configuration.upgradeIdleInterval,
                staged: catalog.registry.extensions[identifier]?.staged != nil)
        var actions = machine.policy != policy ? machine.handle(.setPolicy(policy)) : []
        actions += machine.handle(input)
        policyMachines[identifier] = machine
        return actions
    }

    /// A switch ended (applied or failed): the machine forgets it, and agrees with the registry again.
    func policyFinished(_ identifier: String) {
        _ = decidePolicy(identifier, .finished)
        resyncPolicy(identifier)
    }

    /// After a registry write about `identifier`: a machine that disagrees with the registry
    /// (staged or not) is made again from it; none is kept for an uninstalled extension. Only
    /// here, once a write is on disk — never while one is queued, so a cancel that was decided
    /// but not yet written cannot be undone by a sample taken meanwhile.
    func resyncPolicy(_ identifier: String) {
        guard let entry = catalog.registry.extensions[identifier] else {
            policyMachines[identifier] = nil
            return
        }
        guard let machine = policyMachines[identifier], machine.state != .applying else { return }
        let staged = entry.staged != nil
        if (machine.state == .waiting) != staged {
            policyMachines[identifier] = UpgradePolicyMachine(
                policy: catalog.upgradePolicy(of: identifier), idleInterval: configuration.upgradeIdleInterval, staged: staged)
        }
    }

    /// Whether the switch of `identifier`'s staged version may happen now because no session
    /// would notice (or the policy became `now`); starts it if so.
    func evaluateStaged(_ identifier: String, inline: Bool = false) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard catalog.registry.extensions[identifier]?.staged != nil else { return }
        guard decidePolicy(identifier, .sessions(running: supervisor.runsExtension(identifier))).first == .apply else { return }
        applyStaged(identifier, actor: nil, inline: inline) { _ in }  // the outcome is in the events and the log
    }

    /// Whether a Connect of a profile of `identifier` must wait for a switch first: a staged
    /// version that waits for no session to run the extension (on-disconnect, when-idle), and none
    /// does — the disconnect that lets it in may have been a moment ago, its turn not yet come.
    /// Starts the switch if the machine agrees; `then` runs as the next job of `installs`, after
    /// the switch has registered the new version (or failed), so the session starts what is
    /// registered then. False: connect at once.
    func waitForStagedSwitch(_ identifier: String, then: @escaping () -> Void) -> Bool {
        guard catalog.registry.extensions[identifier]?.staged != nil, !supervisor.runsExtension(identifier) else { return false }
        evaluateStaged(identifier)
        guard policyMachines[identifier]?.state == .applying else { return false }
        installs.enqueue { done in
            done()
            then()
        }
        return true
    }

    /// policy.json's default, read afresh (an unreadable file keeps the last one: installs report it).
    func refreshDefaultUpgradePolicy() {
        // try?: an unreadable policy is reported by the next install (PolicyInvalid); the last default stays.
        guard let policy = try? ExtensionPolicy.load(configDirectory: configuration.configDirectory),
            policy.defaultUpgradePolicy != catalog.defaultUpgradePolicy
        else { return }
        catalog.defaultUpgradePolicy = policy.defaultUpgradePolicy
        stream.statusChanged()
    }

    // MARK: start, timer, session ends

    /// At start (also after a re-exec or a crash): staged versions whose extension no session runs
    /// are applied at once (before alwaysOn profiles start, so they start the new version); the
    /// timer looks at the others from now on.
    func startUpgradePolicies() {
        refreshDefaultUpgradePolicy()
        for info in catalog.registry.sorted where info.staged != nil {
            logger.info("extension \(info.identifier): \(info.staged?.versionDescription ?? "") is staged")
            if !supervisor.runsExtension(info.identifier) { evaluateStaged(info.identifier, inline: true) }
        }
        let period = max(
            configuration.upgradeIdleInterval / UpgradePolicyTiming.samplesPerIdleInterval, UpgradePolicyTiming.minimumSamplePeriod)
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + period, repeating: period)
        timer.setEventHandler { [weak self] in self?.samplePolicies() }
        policyTimer = timer
        timer.resume()
    }

    /// Every staged version: applied if no session runs its extension (or the policy became
    /// `now`), or, for `when-idle`, once the traffic sample has not changed for the idle interval.
    private func samplePolicies() {
        let staged = catalog.registry.sorted.filter { $0.staged != nil }.map(\.identifier)
        guard !staged.isEmpty else { return }
        refreshDefaultUpgradePolicy()
        let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        for identifier in staged {
            evaluateStaged(identifier)
            guard policyMachines[identifier]?.state == .waiting, policyMachines[identifier]?.policy == .whenIdle else { continue }
            let sample = supervisor.trafficSample(of: identifier)
            guard decidePolicy(identifier, .traffic(sample, at: now)).first == .apply else { continue }
            logger.info(
                "extension \(identifier): its sessions were idle for \(configuration.upgradeIdleInterval) s; applying the staged upgrade")
            applyStaged(identifier, actor: nil) { _ in }  // the outcome is in the events and the log
        }
    }

    /// Every published event passes here: a session of an extension with a staged version that
    /// ended may let it in (on-disconnect), decided in a turn of its own.
    func observedForPolicies(_ body: EventBody) {
        guard body.kind == .sessionState, let session = body.session, session.state == .disconnected,
            catalog.registry.extensions[session.extensionIdentifier]?.staged != nil
        else { return }
        let identifier = session.extensionIdentifier
        queue.async { [weak self] in self?.evaluateStaged(identifier) }
    }
}
