// ManagerService+Extensions: the extension methods of io.culvert.Manager and the install spool.

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch
import FoundationEssentials

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
            commitRegistry { [self] () throws(ExtensionError) in
                let (next, info) = try catalog.approving(identifier)
                return (next, (info: info, changed: next != nil))
            } then: { [self] result in
                switch result {
                case .success(let (info, changed)):
                    var seq = events.lastSeq
                    if changed {
                        seq = publish(EventBody(kind: .extensionApproved, actor: actor(call), reason: "approved", extensionInfo: info)).seq
                        logger.info("extension \(identifier) approved by uid \(call.peer.uid)")
                    }
                    replier.reply(
                        encodedParameters: WireEncoding.encode(WireEncoding.ApproveReply(extensionInfo: info, changed: changed, seq: seq)))
                case .failure(let error):
                    replier.fail(wireError(error))
                }
            }
        case .uninstallExtension?:
            // After any install in progress: it may be making the copy this would remove.
            installs.enqueue { [self] done in
                let identifier = parameters["identifier"]?.stringValue ?? ""
                let users = supervisor.activeProfiles(usingExtension: identifier)
                if !users.isEmpty {
                    guard parameters["force"]?.boolValue == true else {
                        replier.fail(ManagerError.extensionInUse(identifier: identifier, profiles: users))
                        return done()
                    }
                    // The providers keep their executable mapped; their sessions stop with a typed reason.
                    for profile in users {
                        _ = supervisor.disconnect(profileName: profile, reason: .extensionRemoved, wait: false, replier: nil)
                    }
                }
                commitRegistry { [self] () throws(ExtensionError) in
                    let (next, removed) = try catalog.uninstalling(identifier)
                    return (next, removed)
                } then: { [self] result in
                    guard case .success(let removed) = result else {
                        if case .failure(let error) = result { replier.fail(wireError(error)) }
                        return done()
                    }
                    resyncPolicy(identifier)
                    let event = publish(
                        EventBody(kind: .extensionUninstalled, actor: actor(call), reason: "uninstalled", extensionInfo: removed))
                    logger.info("extension \(identifier) uninstalled by uid \(call.peer.uid)")
                    // The reply once its copy is gone too (a copy left behind is unreferenced, and gc removes it).
                    guard let copy = catalog.didUninstall(removed) else {
                        replier.reply(["seq": .int(event.seq)])
                        return done()
                    }
                    installs.offQueue {
                        ExtensionCatalog.removeCopy(copy)
                    } then: {
                        replier.reply(["seq": .int(event.seq)])
                        done()
                    }
                }
            }
        case .listExtensions?:
            let extensions = ReaderView.view(catalog.listed, for: audience(of: call.peer))
            replier.reply(encodedParameters: WireEncoding.encode(WireEncoding.ExtensionList(extensions: extensions)))
        case .collectGarbage?:
            // After any install in progress: its staging directory and new store copy are not garbage.
            installs.enqueue { [self] done in
                let dryRun = parameters["dryRun"]?.boolValue ?? false
                let running = supervisor.runningExecutables
                commitRegistry { [self] () throws(ExtensionError) in
                    let (next, removals) = try catalog.collecting(running: running)
                    return (dryRun ? nil : next, removals)
                } then: { [self] result in
                    switch result {
                    case .failure(let error):
                        replier.fail(wireError(error))
                        done()
                    case .success(let removals) where dryRun || removals.isEmpty:
                        replier.reply(
                            encodedParameters: WireEncoding.encode(WireEncoding.GarbageReply(removals: removals, seq: events.lastSeq)))
                        done()
                    case .success(let removals):
                        installs.offQueue { () -> ExtensionError? in
                            do throws(ExtensionError) {
                                try ExtensionCatalog.removeGarbage(removals)
                                return nil
                            } catch {
                                return error
                            }
                        } then: { [self] failure in
                            defer { done() }
                            if let failure { return replier.fail(wireError(failure)) }
                            let seq = publish(EventBody(kind: .garbageCollected, actor: actor(call), removals: removals)).seq
                            for removal in removals {
                                logger.info("gc: removed \(removal.kind.rawValue) \(removal.path) (\(removal.reason))")
                            }
                            replier.reply(encodedParameters: WireEncoding.encode(WireEncoding.GarbageReply(removals: removals, seq: seq)))
                        }
                    }
                }
            }
        default:
            replier.fail(.methodNotImplemented(call.message.method))
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
    func setAsideSpoolRequest(_ path: String, reason: String) {
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
