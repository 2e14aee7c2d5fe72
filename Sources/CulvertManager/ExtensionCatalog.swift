// ExtensionCatalog: installs, approves, uninstalls and collects extensions — the registry plus
// the store of verified read-only copies under <state-dir>/extensions/:
//
//   registry.json                      what is installed (atomic replace)
//   store/<content-digest>/<id>.culvertext/   verified copies; the only bundles culvertd runs
//   staging/<random>/                  copies being made; never referenced, removed at start
//
// Order of an install: verify the source, decide (contract 6), copy into staging, verify the
// copy, rename staging → store (atomic), write the registry (atomic). A crash at any point leaves
// the previous registry and at worst an unreferenced directory that start-up or gc removes.
//
// The catalog decides; it does not write registry.json itself. Each change is a function from
// the registry to the next one (`registering`, `approving`, `uninstalling`, `collecting`), which
// ManagerService.commitRegistry writes off the manager queue and hands back to `adopt` once it is
// on disk — so `registry` is always what the file says.

import CulvertBundle
import CulvertCore
import CulvertSystem

/// Why an extension operation was refused; each maps to one io.culvert.Manager error.
enum ExtensionError: Error {
    case invalidPath(path: String, reason: String)
    case rejected(BundleError)
    case policyInvalid(path: String, description: String)
    case publisherNotAllowed(identifier: String, publisher: String)
    case downgradeRefused(identifier: String, installed: String, offered: String)
    case publisherMismatch(identifier: String, installed: String, offered: String)
    case notFound(identifier: String)
    case storage(SystemError)
    case daemonTooOld(identifier: String, required: String, running: String)
}

enum InstallOutcome: String {
    /// `staged`: a newer version recorded to replace the running one when its upgrade policy says.
    case installed, replaced, unchanged, staged
}

/// An install whose verified copy is in the store but not yet in the registry.
struct PreparedInstall {
    var outcome: InstallOutcome
    var info: ExtensionInfo
    var previous: ExtensionInfo?
}

/// Confined to the manager queue by its owner: a value ManagerService holds, which checks the queue at its entries.
struct ExtensionCatalog {
    let root: String
    let stateDirectory: String
    private(set) var registry = ExtensionRegistry()
    /// What the last `load` found wrong (a rebuilt registry, copies it could not use, extensions
    /// this daemon cannot run).
    private(set) var problems: [Problem] = []
    /// Installed extensions this daemon cannot run, by identifier, with the reason; computed at
    /// load, never stored (ExtensionCompatibility).
    private(set) var unusable: [String: String] = [:]
    /// The running culvertd's version, which manifests' `minimumCulvertdVersion` must not exceed.
    private(set) var daemonVersion: SemanticVersion?
    /// policy.json's `defaultUpgradePolicy` as last read (ManagerService+Policies refreshes it).
    var defaultUpgradePolicy = UpgradePolicy.builtInDefault

    var registryPath: String { root + "/registry.json" }
    var storeDirectory: String { root + "/store" }
    var stagingDirectory: String { root + "/staging" }

    init(stateDirectory: String) {
        self.stateDirectory = stateDirectory
        root = stateDirectory + "/extensions"
    }

    /// Clears staging leftovers (never registered, so never acknowledged), loads the registry —
    /// rebuilt from the store if it is missing or unreadable (RegistryRecovery) — and checks which
    /// extensions this daemon (`daemonVersion`) can run (ExtensionCompatibility).
    mutating func load(configDirectory: String, daemonVersion: String, time: String) throws(SystemError) {
        try FileSystem.createDirectory(storeDirectory, mode: 0o755)
        try FileSystem.createDirectory(stagingDirectory, mode: 0o700)
        for leftover in try FileSystem.listDirectory(stagingDirectory) {
            try FileSystem.removeTree(stagingDirectory + "/" + leftover)
        }
        let recovery = RegistryRecovery(
            registryPath: registryPath, storeDirectory: storeDirectory, stateDirectory: stateDirectory, configDirectory: configDirectory)
        let outcome = try recovery.load(time: time)
        registry = outcome.registry
        self.daemonVersion = SemanticVersion(daemonVersion)
        let compatibility = ExtensionCompatibility.check(registry, running: self.daemonVersion)
        unusable = compatibility.unusable
        problems = outcome.problems + compatibility.problems
    }

    // MARK: install

    /// What staging reads of the catalog, taken on the manager queue.
    var installSnapshot: InstallSnapshot {
        InstallSnapshot(
            storeDirectory: storeDirectory, stagingDirectory: stagingDirectory, registry: registry, daemonVersion: daemonVersion)
    }

    /// The registry entry an install describes, from a staged copy: the verified copy is in the
    /// store, the registry unchanged. A live upgrade registers it (`commitInstall`) only once
    /// every session runs the new version, or drops it (`abandonInstall`) and the old version stays.
    ///
    /// The decision (contract 6) was made by `stage` against a snapshot; it still holds, since
    /// every install, uninstall and gc is serialised by `ExtensionInstallQueue`. Only an approval
    /// can come between, and it changes no release: the entry's state is read afresh here.
    func prepare(_ staged: StagedInstall, time: String) -> PreparedInstall {
        let previous = registry.extensions[staged.identifier] ?? staged.previous
        guard let copy = staged.copy else {
            // unchanged implies an installed entry: stage() only says so when one exists.
            return PreparedInstall(outcome: .unchanged, info: previous!, previous: previous)
        }
        var state = ExtensionState.enabled
        var reason = previous == nil ? "installed" : "replaced"
        if let previous {
            // A replacement keeps the approval state of what it replaces.
            state = previous.state == .awaitingApproval ? .awaitingApproval : .enabled
            reason = state == .awaitingApproval ? "approval_required" : "replaced"
        } else if staged.requireApproval {
            state = .awaitingApproval
            reason = "approval_required"
        }
        var info = ExtensionInfo(
            identifier: copy.identifier, displayName: copy.manifest.displayName, version: "\(copy.manifest.version)",
            build: Int64(copy.manifest.build), publisher: copy.publisher.wireName, signed: copy.isSigned, state: state, reason: reason,
            capabilities: copy.manifest.capabilities.map(\.rawValue).sorted(), source: staged.path, storePath: copy.path,
            contentDigest: copy.contentDigest, installedAt: time)
        // The administrator's upgrade policy belongs to the extension, not to one version.
        info.upgradePolicy = previous?.upgradePolicy
        return PreparedInstall(outcome: previous == nil ? .installed : .replaced, info: info, previous: previous)
    }

    /// The registry with `prepared` registered. Once it is written, `adopt` it and call
    /// `didRegister`; the copy it replaced (`prepared.previous?.contentDigest`) is removed once
    /// nothing uses it (`unusedCopy`, `removeCopy`), off the manager queue.
    func registering(_ prepared: PreparedInstall) -> ExtensionRegistry {
        var next = registry
        next.extensions[prepared.info.identifier] = prepared.info
        return next
    }

    /// After `registering(prepared)` was adopted: the new version passed the install-time version check.
    mutating func didRegister(_ prepared: PreparedInstall) {
        markUsable(prepared.info.identifier, storePath: prepared.previous?.storePath)
    }

    /// Takes `next` as the registry: ManagerService.commitRegistry calls it once `next` is on disk.
    mutating func adopt(_ next: ExtensionRegistry) {
        registry = next
    }

    /// The path of the store copy `digest` if the registry does not reference it and no provider
    /// runs from it (`running`: executables; a copy in use is left for gc to remove later).
    func unusedCopy(_ digest: String, running: [String]) -> String? {
        let path = storeDirectory + "/" + digest
        guard !registry.referencedDigests.contains(digest), !running.contains(where: { $0.hasPrefix(path + "/") }) else { return nil }
        return path
    }

    /// Removes a store copy nothing uses; on any thread.
    static func removeCopy(_ path: String) {
        try? FileSystem.removeTree(path)  // try?: a copy left behind is unreferenced, and gc removes it
    }

    /// Drops a prepared install: the registry stays as it is; the new copy goes unless referenced.
    func abandonInstall(_ prepared: PreparedInstall) {
        guard !registry.referencedDigests.contains(prepared.info.contentDigest) else { return }
        try? FileSystem.removeTree(storeDirectory + "/" + prepared.info.contentDigest)  // gc removes it if this fails
    }

    /// Forgets that `identifier` was unusable (replaced or uninstalled), with its problem.
    private mutating func markUsable(_ identifier: String, storePath: String?) {
        guard unusable.removeValue(forKey: identifier) != nil else { return }
        problems.removeAll { $0.kind == ProblemKind.extensionNotUsable.rawValue && $0.path == storePath }
    }

    // MARK: approve, uninstall

    /// The registry with `identifier` approved (nil: it already was), and its entry.
    func approving(_ identifier: String) throws(ExtensionError) -> (next: ExtensionRegistry?, info: ExtensionInfo) {
        guard var info = registry.extensions[identifier] else { throw .notFound(identifier: identifier) }
        guard info.state == .awaitingApproval else { return (nil, info) }
        info.state = .enabled
        info.reason = "approved"
        var next = registry
        next.extensions[identifier] = info
        return (next, info)
    }

    /// The registry without `identifier`, and its entry as the event reports it.
    func uninstalling(_ identifier: String) throws(ExtensionError) -> (next: ExtensionRegistry, removed: ExtensionInfo) {
        guard let info = registry.extensions[identifier] else { throw .notFound(identifier: identifier) }
        var next = registry
        next.extensions[identifier] = nil
        var removed = info
        removed.state = .uninstalling
        removed.reason = "uninstalled"
        return (next, removed)
    }

    /// After `uninstalling` was adopted: forgets that the extension was unusable, and returns its
    /// store copy if no other registration uses it, for removal off the manager queue.
    mutating func didUninstall(_ removed: ExtensionInfo) -> String? {
        markUsable(removed.identifier, storePath: removed.storePath)
        guard !registry.referencedDigests.contains(removed.contentDigest) else { return nil }
        return storeDirectory + "/" + removed.contentDigest
    }

    // MARK: garbage

    /// What gc would remove, and the registry without the orphaned registrations (nil: unchanged).
    /// The caller writes `next`, then removes the other paths (`removeGarbage`) off the manager queue.
    /// - Parameter running: executables of running providers; their store copies are kept even
    ///   when no registration references them any more (a provider runs only from its copy).
    func collecting(running: [String] = []) throws(ExtensionError) -> (next: ExtensionRegistry?, removals: [Removal]) {
        var removals: [Removal] = []
        var next = registry
        for info in registry.sorted where !FileSystem.exists(info.source) {
            removals.append(
                Removal(kind: .orphanedRegistration, identifier: info.identifier, path: info.source, reason: "source bundle is gone"))
            next.extensions[info.identifier] = nil
        }
        let prefix = storeDirectory + "/"
        let inUse = Set(
            running.filter { $0.hasPrefix(prefix) }.compactMap { $0.dropFirst(prefix.count).split(separator: "/").first.map(String.init) })
        let referenced = next.referencedDigests.union(inUse)
        do {
            for entry in try FileSystem.listDirectory(storeDirectory) where !referenced.contains(entry) {
                removals.append(
                    Removal(kind: .storeCopy, identifier: nil, path: storeDirectory + "/" + entry, reason: "no registration uses it"))
            }
            for entry in try FileSystem.listDirectory(stagingDirectory) {
                removals.append(
                    Removal(kind: .staging, identifier: nil, path: stagingDirectory + "/" + entry, reason: "interrupted install"))
            }
        } catch {
            throw .storage(error)
        }
        return (next == registry ? nil : next, removals)
    }

    /// Removes the directories of `removals` (not the orphaned registrations: those are the
    /// registry's); on any thread.
    static func removeGarbage(_ removals: [Removal]) throws(ExtensionError) {
        for removal in removals where removal.kind != .orphanedRegistration {
            do {
                try FileSystem.removeTree(removal.path)
            } catch {
                throw .storage(error)
            }
        }
    }
}

extension ExtensionInfo {
    /// What contract 6 compares; publisher strings come from BundlePublisher.wireName.
    var release: BundleRelease? {
        guard let version = SemanticVersion(version), let build = Int(exactly: self.build) else { return nil }
        let publisher: BundlePublisher = self.publisher == "unsigned" ? .unsigned : .key(fingerprint: self.publisher)
        return BundleRelease(identifier: identifier, version: BundleVersion(version: version, build: build), publisher: publisher)
    }
}
