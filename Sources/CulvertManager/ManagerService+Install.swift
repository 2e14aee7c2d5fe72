// ManagerService+Install: InstallExtension and the install spool. The verifying, hashing and
// copying run off the manager queue (ExtensionInstallQueue, ExtensionCatalog+Staging); the
// registry commit, a live upgrade, the event and the reply run on it, in order.

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertWire
import Dispatch
import FoundationEssentials

extension ManagerService {
    /// Installs and publishes the matching event (none for `unchanged`). Replacing an extension
    /// that connected sessions run upgrades them live first (SessionSupervisor+Upgrades) and
    /// registers the new version only if all of them took it; `completion` runs then.
    ///
    /// Installs are serialised by `installs`; each holds it until registered, refused, or handed
    /// to a live upgrade (which refuses another upgrade of the same identifier itself).
    /// `inline` does everything in the caller's turn (the spool, applied before clients are served).
    func installExtension(
        path: String, allowDowngrade: Bool, actor: Actor, inline: Bool = false,
        completion: @escaping (Result<(InstallOutcome, ExtensionInfo, Event?), ManagerError>) -> Void
    ) {
        dispatchPrecondition(condition: .onQueue(queue))
        installs.enqueue { [self] done in
            let snapshot = catalog.installSnapshot
            let configDirectory = configuration.configDirectory
            installs.offQueue(inline: inline) { () -> Result<StagedInstall, ExtensionError> in
                do throws(ExtensionError) {
                    return .success(
                        try ExtensionCatalog.stage(
                            path: path, allowDowngrade: allowDowngrade, configDirectory: configDirectory, snapshot: snapshot))
                } catch {
                    return .failure(error)
                }
            } then: { [self] staged in
                switch staged {
                case .failure(let error):
                    completion(.failure(wireError(error)))
                    done()
                case .success(let staged):
                    finishInstall(staged, actor: actor, inline: inline, done: done, completion: completion)
                }
            }
        }
    }

    /// The install's second half, on the manager queue: register it, or upgrade sessions first.
    /// `done` ends the install's job: once the registration is written (so the next install is
    /// decided against it), or once a live upgrade has begun (which registers it itself).
    private func finishInstall(
        _ staged: StagedInstall, actor: Actor, inline: Bool, done: @escaping () -> Void,
        completion: @escaping (Result<(InstallOutcome, ExtensionInfo, Event?), ManagerError>) -> Void
    ) {
        let prepared = catalog.prepare(staged, time: WallClock.rfc3339Now())
        let info = prepared.info
        func upgradeFailed(installed: String, _ failure: UpgradeFailure) -> ManagerError {
            .upgradeFailed(
                identifier: info.identifier, installed: installed, offered: info.versionDescription,
                profile: failure.profile, reason: failure.reason, description: failure.description, log: failure.log)
        }
        // Only a live upgrade registers a release outside `installs`: if one finished while this
        // copy was verified, the decision was made against a version that is gone.
        var decidedOnCurrentRelease: Bool { catalog.registry.extensions[staged.identifier]?.release == staged.previous?.release }
        func supersededFailure() -> ManagerError {
            upgradeFailed(
                installed: prepared.previous?.versionDescription ?? "",
                UpgradeFailure(
                    profile: "", reason: "upgrade_in_progress",
                    description: "an upgrade of \(info.identifier) finished while this install was verified", log: []))
        }
        guard decidedOnCurrentRelease else {
            catalog.abandonInstall(prepared)
            completion(.failure(supersededFailure()))
            return done()
        }
        func register(then finished: @escaping () -> Void) {
            commitRegistry(inline: inline) { [self] () throws(ExtensionError) in
                // Checked again in turn: a live upgrade's registration may have been in flight.
                decidedOnCurrentRelease ? (catalog.registering(prepared), true) : (nil, false)
            } then: { [self] result in
                defer { finished() }
                switch result {
                case .failure(let error):
                    // The copy stays for gc: after a live upgrade, sessions run from it.
                    return completion(.failure(wireError(error)))
                case .success(false):
                    if let copy = catalog.unusedCopy(info.contentDigest, running: supervisor.runningExecutables) {
                        ExtensionCatalog.removeCopy(copy)
                    }
                    return completion(.failure(supersededFailure()))
                case .success(true):
                    break
                }
                catalog.didRegister(prepared)
                if let replaced = prepared.previous?.contentDigest { removeReplacedCopy(replaced, inline: inline) }
                // A version staged before this one is no longer referenced either.
                if let staged = prepared.previous?.staged?.contentDigest, staged != info.contentDigest {
                    removeReplacedCopy(staged, inline: inline)
                }
                announce()
            }
        }
        func announce() {
            // As listings show it (with the upgrade policy in force), so replies and ListExtensions agree.
            let info = catalog.installed(info.identifier) ?? info
            if let previous = prepared.previous {
                logger.info("extension \(info.identifier) replaced: \(previous.versionDescription) → \(info.versionDescription)")
                let event = publish(
                    EventBody(
                        kind: .extensionReplaced, actor: actor, reason: info.reason, extensionInfo: info,
                        previousVersion: previous.versionDescription))
                completion(.success((.replaced, info, event)))
            } else {
                logger.info(
                    "extension \(info.identifier) \(info.versionDescription) installed from \(staged.path) (\(info.state.rawValue))")
                let event = publish(EventBody(kind: .extensionInstalled, actor: actor, reason: info.reason, extensionInfo: info))
                completion(.success((.installed, info, event)))
            }
        }
        guard prepared.outcome == .replaced, let previous = prepared.previous, previous.state.isUsable,
            info.state == .enabled
        else {
            guard prepared.outcome != .unchanged else {
                completion(.success((.unchanged, catalog.installed(info.identifier) ?? info, nil)))
                return done()
            }
            return register(then: done)
        }
        // The upgrade policy decides: stage it, or apply it now (live if sessions run it). policy.json
        // is read at each install (ExtensionPolicy), so its default applies without a restart too.
        refreshDefaultUpgradePolicy()
        let running = !supervisor.upgradableSessions(of: info.identifier).isEmpty
        let decision = decidePolicy(info.identifier, .install(sessionsRunning: running)).first
        if decision == .stage {
            return stageInstall(
                prepared, actor: actor, inline: inline, current: { decidedOnCurrentRelease }, superseded: supersededFailure, done: done,
                completion: completion)
        }
        // Its store copy may be the one the running upgrade installs: left for gc.
        let inProgress = upgradeFailed(
            installed: previous.versionDescription,
            UpgradeFailure(profile: "", reason: "upgrade_in_progress", description: "an upgrade of \(info.identifier) is running", log: []))
        guard decision != .refuse(.inProgress) else {
            completion(.failure(inProgress))
            return done()
        }
        guard running else {
            return register(then: { [self] in
                policyFinished(info.identifier)
                done()
            })
        }
        defer { done() }
        guard !supervisor.upgradesInProgress.contains(info.identifier) else {
            policyFinished(info.identifier)
            return completion(.failure(inProgress))
        }
        logger.info("extension \(info.identifier): live upgrade \(previous.versionDescription) → \(info.versionDescription)")
        supervisor.upgradeSessions(from: previous, to: info) { [self] failure in
            guard let failure else { return register(then: { [self] in policyFinished(info.identifier) }) }
            policyFinished(info.identifier)
            catalog.abandonInstall(prepared)
            logger.error(
                "extension \(info.identifier): upgrade to \(info.versionDescription) abandoned; \(previous.versionDescription) stays")
            completion(.failure(upgradeFailed(installed: previous.versionDescription, failure)))
        }
    }

    /// Removes the store copy an install replaced, if nothing uses it, as the next job of
    /// `installs` — so no install, uninstall or gc runs meanwhile — with the removal itself off the
    /// manager queue (unlinking a copy of tens of MiB takes milliseconds). Whether it is still
    /// unused is decided when its turn comes. `inline` (the spool at start) removes it at once.
    func removeReplacedCopy(_ digest: String, inline: Bool) {
        guard !inline else {
            if let copy = catalog.unusedCopy(digest, running: supervisor.runningExecutables) { ExtensionCatalog.removeCopy(copy) }
            return
        }
        installs.enqueue { [self] done in
            guard let copy = catalog.unusedCopy(digest, running: supervisor.runningExecutables) else { return done() }
            installs.offQueue {
                ExtensionCatalog.removeCopy(copy)
            } then: {
                done()
            }
        }
    }

    /// Applies install requests spooled while culvertd was down, oldest first; each is removed
    /// once applied or refused (a refusal is an `extension_install_failed` event).
    func applySpool() {
        dispatchPrecondition(condition: .onQueue(queue))
        let directory = configuration.stateDirectory + "/" + SpoolRequest.directoryName
        guard let entries = try? FileSystem.listDirectory(directory) else { return }  // no spool directory: nothing spooled
        for entry in entries where entry.hasSuffix(".json") {
            let path = directory + "/" + entry
            let request: SpoolRequest
            do {
                request = try JSONDecoder().decode(SpoolRequest.self, from: Data(try FileSystem.readFile(path)))
            } catch {
                logger.error("spooled request \(path) is unreadable (\(error)); moving it aside")
                publish(EventBody(kind: .extensionInstallFailed, reason: "spool_unreadable", error: "\(path): \(error)"))
                setAsideSpoolRequest(path, reason: "\(error)")
                continue
            }
            let actor = Actor(uid: request.requestedBy, pid: 0, command: "spool")
            installExtension(path: request.path, allowDowngrade: request.allowDowngrade, actor: actor, inline: true) { [self] result in
                guard case .failure(let wire) = result else { return }
                logger.error("spooled install of \(request.path) refused: \(wire)")
                publish(EventBody(kind: .extensionInstallFailed, actor: actor, reason: "spooled_install", error: wire.description))
            }
            do {
                try FileSystem.removeFile(path)
                try FileSystem.syncDirectory(directory)
            } catch {
                logger.error("cannot remove applied spool entry \(path): \(error)")
            }
        }
    }
}
