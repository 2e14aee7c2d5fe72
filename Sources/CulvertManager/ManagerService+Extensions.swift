// ManagerService+Extensions: the extension methods of io.culvert.Manager and the install spool.

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Foundation

extension ManagerService {
    func handleExtensionCall(_ call: VarlinkCall, replier: VarlinkReplier) {
        dispatchPrecondition(condition: .onQueue(queue))
        let parameters = call.parameters
        switch ManagerMethod(rawValue: call.message.method) {
        case .installExtension?:
            let path = parameters["path"]?.stringValue ?? ""
            // A live upgrade answers once every session runs the new version (or it was abandoned).
            installExtension(path: path, allowDowngrade: parameters["allowDowngrade"]?.boolValue ?? false, actor: actor(call)) {
                [self] result in
                switch result {
                case .success(let (outcome, info, event)):
                    replier.reply(
                        encodedParameters: WireEncoding.encode(
                            WireEncoding.InstallReply(result: outcome.rawValue, extensionInfo: info, seq: event?.seq ?? events.lastSeq)))
                case .failure(let error):
                    replier.fail(error)
                }
            }
        case .approveExtension?:
            let identifier = parameters["identifier"]?.stringValue ?? ""
            do throws(ExtensionError) {
                let (info, changed) = try catalog.approve(identifier)
                var seq = events.lastSeq
                if changed {
                    seq = publish(EventBody(kind: .extensionApproved, actor: actor(call), reason: "approved", extensionInfo: info)).seq
                    logger.info("extension \(identifier) approved by uid \(call.peer.uid)")
                }
                replier.reply(
                    encodedParameters: WireEncoding.encode(WireEncoding.ApproveReply(extensionInfo: info, changed: changed, seq: seq)))
            } catch {
                replier.fail(wireError(error))
            }
        case .uninstallExtension?:
            let identifier = parameters["identifier"]?.stringValue ?? ""
            let users = supervisor.activeProfiles(usingExtension: identifier)
            if !users.isEmpty {
                guard parameters["force"]?.boolValue == true else {
                    replier.fail(ManagerError.extensionInUse(identifier: identifier, profiles: users))
                    return
                }
                // The providers keep their executable mapped; their sessions stop with a typed reason.
                for profile in users {
                    _ = supervisor.disconnect(profileName: profile, reason: .extensionRemoved, wait: false, replier: nil)
                }
            }
            do throws(ExtensionError) {
                let info = try catalog.uninstall(identifier)
                let event = publish(EventBody(kind: .extensionUninstalled, actor: actor(call), reason: "uninstalled", extensionInfo: info))
                logger.info("extension \(identifier) uninstalled by uid \(call.peer.uid)")
                replier.reply(["seq": .int(event.seq)])
            } catch {
                replier.fail(wireError(error))
            }
        case .listExtensions?:
            let extensions = ReaderView.view(catalog.listed, for: audience(of: call.peer))
            replier.reply(encodedParameters: WireEncoding.encode(WireEncoding.ExtensionList(extensions: extensions)))
        case .collectGarbage?:
            let dryRun = parameters["dryRun"]?.boolValue ?? false
            do throws(ExtensionError) {
                let removals = try catalog.collectGarbage(dryRun: dryRun, running: supervisor.runningExecutables)
                var seq = events.lastSeq
                if !dryRun && !removals.isEmpty {
                    seq = publish(EventBody(kind: .garbageCollected, actor: actor(call), removals: removals)).seq
                    for removal in removals { logger.info("gc: removed \(removal.kind.rawValue) \(removal.path) (\(removal.reason))") }
                }
                replier.reply(encodedParameters: WireEncoding.encode(WireEncoding.GarbageReply(removals: removals, seq: seq)))
            } catch {
                replier.fail(wireError(error))
            }
        default:
            replier.fail(.methodNotImplemented(call.message.method))
        }
    }

    /// Installs and publishes the matching event (none for `unchanged`). Replacing an extension
    /// that connected sessions run upgrades them live first (SessionSupervisor+Upgrades) and
    /// registers the new version only if all of them took it; `completion` runs then.
    func installExtension(
        path: String, allowDowngrade: Bool, actor: Actor,
        completion: @escaping (Result<(InstallOutcome, ExtensionInfo, Event?), ManagerError>) -> Void
    ) {
        dispatchPrecondition(condition: .onQueue(queue))
        let prepared: PreparedInstall
        do throws(ExtensionError) {
            prepared = try catalog.prepareInstall(
                path: path, allowDowngrade: allowDowngrade, configDirectory: configuration.configDirectory, time: WallClock.rfc3339Now())
        } catch {
            return completion(.failure(wireError(error)))
        }
        let info = prepared.info
        func register() {
            do throws(ExtensionError) { try catalog.commitInstall(prepared, running: supervisor.runningExecutables) } catch {
                return completion(.failure(wireError(error)))
            }
            if let previous = prepared.previous {
                logger.info("extension \(info.identifier) replaced: \(previous.versionDescription) → \(info.versionDescription)")
                let event = publish(
                    EventBody(
                        kind: .extensionReplaced, actor: actor, reason: info.reason, extensionInfo: info,
                        previousVersion: previous.versionDescription))
                completion(.success((.replaced, info, event)))
            } else {
                logger.info("extension \(info.identifier) \(info.versionDescription) installed from \(path) (\(info.state.rawValue))")
                completion(
                    .success(
                        (
                            .installed, info,
                            publish(EventBody(kind: .extensionInstalled, actor: actor, reason: info.reason, extensionInfo: info))
                        ))
                )
            }
        }
        guard prepared.outcome == .replaced, let previous = prepared.previous, previous.state == .enabled, info.state == .enabled,
            !supervisor.upgradableSessions(of: info.identifier).isEmpty
        else {
            if prepared.outcome == .unchanged { return completion(.success((.unchanged, info, nil))) }
            return register()
        }
        func upgradeFailed(_ failure: UpgradeFailure) -> ManagerError {
            .upgradeFailed(
                identifier: info.identifier, installed: previous.versionDescription, offered: info.versionDescription,
                profile: failure.profile, reason: failure.reason, description: failure.description, log: failure.log)
        }
        guard !supervisor.upgradesInProgress.contains(info.identifier) else {
            // Its store copy may be the one the running upgrade installs: left for gc.
            return completion(
                .failure(
                    upgradeFailed(
                        UpgradeFailure(
                            profile: "", reason: "upgrade_in_progress", description: "an upgrade of \(info.identifier) is running", log: [])
                    )))
        }
        logger.info("extension \(info.identifier): live upgrade \(previous.versionDescription) → \(info.versionDescription)")
        supervisor.upgradeSessions(from: previous, to: info) { [self] failure in
            guard let failure else { return register() }
            catalog.abandonInstall(prepared)
            logger.error(
                "extension \(info.identifier): upgrade to \(info.versionDescription) abandoned; \(previous.versionDescription) stays")
            completion(.failure(upgradeFailed(failure)))
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
            installExtension(path: request.path, allowDowngrade: request.allowDowngrade, actor: actor) { [self] result in
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

    func wireError(_ error: ExtensionError) -> ManagerError {
        switch error {
        case .invalidPath(let path, let reason):
            return .invalidPath(path: path, reason: reason)
        case .rejected(let bundleError):
            return .bundleRejected(reason: bundleError.code, path: bundleError.offendingPath, description: bundleError.description)
        case .policyInvalid(let path, let description):
            return .policyInvalid(path: path, description: description)
        case .publisherNotAllowed(let identifier, let publisher):
            return .publisherNotAllowed(identifier: identifier, publisher: publisher)
        case .downgradeRefused(let identifier, let installed, let offered):
            return .downgradeRefused(identifier: identifier, installed: installed, offered: offered)
        case .publisherMismatch(let identifier, let installed, let offered):
            return .publisherMismatch(identifier: identifier, installed: installed, offered: offered)
        case .notFound(let identifier):
            return .extensionNotFound(identifier: identifier)
        case .storage(let systemError):
            return storageFailed(systemError)
        case .daemonTooOld(let identifier, let required, let running):
            return .daemonTooOld(identifier: identifier, required: required, running: running)
        }
    }

    /// Moves an undecodable spool request to <state-dir>/corrupt/ (a retry would fail the same
    /// way) and reports it; if even that fails it is removed, so it cannot be applied twice.
    private func setAsideSpoolRequest(_ path: String, reason: String) {
        do {
            startProblems.append(
                try StateQuarantine.setAside(path, stateDirectory: configuration.stateDirectory, kind: .corruptSpoolRequest, reason: reason)
            )
        } catch {
            logger.error("cannot move \(path) aside (\(error)); removing it")
            try? FileSystem.removeFile(path)  // as before this was moved aside: the request is void either way
        }
    }
}

extension BundleError {
    /// The file a refusal is about, when its case names one (the `path` associated value).
    var offendingPath: String? {
        guard let values = Mirror(reflecting: self).children.first?.value else { return nil }
        if let path = values as? String, Mirror(reflecting: self).children.first?.label == "path" { return path }
        return Mirror(reflecting: values).children.first { $0.label == "path" }?.value as? String
    }
}
