// ManagerService+Staging: the registry side of upgrade policies (issue 16) — an install staged
// instead of applied, a staged version applied (live, exactly as an install under policy `now`)
// or dropped. ManagerService+Policies decides when; each change here is one commitRegistry, so
// it is on disk before anyone hears of it, and a staged version survives re-exec and crash.

import CulvertCore
import CulvertSystem
import CulvertWire

extension ManagerService {
    typealias StagedResult = Result<(ExtensionInfo, Event?), ManagerError>

    /// An install's second half when its policy stages it: the new version (verified and in the
    /// store) is recorded on the installed entry, which becomes `replacing`; `upgrade_pending` is
    /// published and the install answers `staged`. `current` is checked in turn (false: a live
    /// upgrade registered another version meanwhile, and `superseded` is the answer).
    func stageInstall(
        _ prepared: PreparedInstall, actor: Actor, inline: Bool, current: @escaping () -> Bool,
        superseded: @escaping () -> ManagerError, done: @escaping () -> Void,
        completion: @escaping (Result<(InstallOutcome, ExtensionInfo, Event?), ManagerError>) -> Void
    ) {
        let identifier = prepared.info.identifier
        commitRegistry(inline: inline) { [self] () throws(ExtensionError) -> (next: ExtensionRegistry?, value: String??) in
            guard current() else { return (nil, nil) }
            let staging = catalog.staging(prepared)
            return (staging.next, .some(staging.replacedCopy))
        } then: { [self] result in
            defer { done() }
            resyncPolicy(identifier)
            switch result {
            case .failure(let error):
                catalog.abandonInstall(prepared)
                completion(.failure(wireError(error)))
            case .success(nil):
                catalog.abandonInstall(prepared)
                completion(.failure(superseded()))
            case .success(.some(let replaced)):
                if let replaced { removeReplacedCopy(replaced, inline: inline) }
                let info = catalog.installed(identifier) ?? prepared.info
                let policy = info.effectiveUpgradePolicy?.rawValue ?? ""
                logger.info(
                    "extension \(identifier): \(prepared.info.versionDescription) staged (upgrade policy \(policy)); \(info.versionDescription) runs on"
                )
                let event = publish(
                    EventBody(
                        kind: .upgradePending, actor: actor, reason: policy, extensionInfo: info, previousVersion: info.versionDescription))
                completion(.success((.staged, info, event)))
                if !inline { evaluateStaged(identifier) }  // its sessions may have ended meanwhile
            }
        }
    }

    /// Applies `identifier`'s staged version: registered at once if no session runs it, else
    /// after a live upgrade of every session (SessionSupervisor+Upgrades), then
    /// `extension_replaced`. A failed live upgrade leaves the old version running and registered
    /// and drops the staged one (`upgrade_cancelled`, reason `upgrade_failed`): `UpgradeFailed`.
    /// Runs as a job of `installs`, so no install, uninstall or gc comes between.
    func applyStaged(_ identifier: String, actor: Actor?, inline: Bool = false, completion: @escaping (StagedResult) -> Void) {
        installs.enqueue { [self] done in
            guard let prepared = catalog.applyingStaged(identifier), let previous = prepared.previous else {
                policyFinished(identifier)
                completion(.failure(.noUpgradeStaged(identifier: identifier)))
                return done()
            }
            let info = prepared.info
            func register(then finished: @escaping () -> Void) {
                commitRegistry(inline: inline) { [self] () throws(ExtensionError) in
                    // Only the version this switch started with: a cancel or a new staging may have come first.
                    guard catalog.registry.extensions[identifier]?.staged?.contentDigest == info.contentDigest else { return (nil, false) }
                    return (catalog.registering(prepared), true)
                } then: { [self] result in
                    defer { finished() }
                    policyFinished(identifier)
                    switch result {
                    case .failure(let error):
                        completion(.failure(wireError(error)))
                    case .success(false):
                        completion(.failure(.noUpgradeStaged(identifier: identifier)))
                    case .success(true):
                        catalog.didRegister(prepared)
                        removeReplacedCopy(previous.contentDigest, inline: inline)
                        let shown = catalog.installed(identifier) ?? info
                        logger.info(
                            "extension \(identifier) replaced: \(previous.versionDescription) → \(info.versionDescription) (staged upgrade)"
                        )
                        let event = publish(
                            EventBody(
                                kind: .extensionReplaced, actor: actor, reason: "replaced", extensionInfo: shown,
                                previousVersion: previous.versionDescription))
                        completion(.success((shown, event)))
                    }
                }
            }
            guard !supervisor.upgradableSessions(of: identifier).isEmpty else { return register(then: done) }
            defer { done() }
            guard !supervisor.upgradesInProgress.contains(identifier) else {
                policyFinished(identifier)
                return completion(.failure(.upgradeInProgress(identifier: identifier)))
            }
            logger.info("extension \(identifier): live upgrade \(previous.versionDescription) → \(info.versionDescription) (staged)")
            supervisor.upgradeSessions(from: previous, to: info) { [self] failure in
                guard let failure else { return register(then: {}) }
                logger.error(
                    "extension \(identifier): staged upgrade to \(info.versionDescription) failed; \(previous.versionDescription) stays")
                dropStaged(identifier, reason: "upgrade_failed", actor: actor) { _ in
                    completion(
                        .failure(
                            .upgradeFailed(
                                identifier: identifier, installed: previous.versionDescription, offered: info.versionDescription,
                                profile: failure.profile, reason: failure.reason, description: failure.description, log: failure.log)))
                }
            }
        }
    }

    /// Forgets `identifier`'s staged version (state back to `enabled`; its copy is left for gc)
    /// and publishes `upgrade_cancelled` with `reason` (cancelled, upgrade_failed) and the dropped
    /// version as `previousVersion`.
    func dropStaged(_ identifier: String, reason: String, actor: Actor?, completion: @escaping (StagedResult) -> Void) {
        commitRegistry { [self] () throws(ExtensionError) in
            let (next, info, dropped) = try catalog.droppingStaged(identifier, reason: reason)
            return (next, (info: info, dropped: dropped))
        } then: { [self] result in
            policyFinished(identifier)
            switch result {
            case .failure(let error):
                completion(.failure(wireError(error)))
            case .success((_, nil)):
                completion(.failure(.noUpgradeStaged(identifier: identifier)))
            case .success((let info, let dropped?)):
                let shown = catalog.installed(identifier) ?? info
                logger.info("extension \(identifier): staged \(dropped.versionDescription) dropped (\(reason))")
                let event = publish(
                    EventBody(
                        kind: .upgradeCancelled, actor: actor, reason: reason, extensionInfo: shown,
                        previousVersion: dropped.versionDescription))
                completion(.success((shown, event)))
            }
        }
    }
}
