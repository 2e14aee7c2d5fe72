// ExtensionCatalog+Staging: the part of an install proportional to the bundle's size — reading
// policy and keys, verifying (hashing) the source, copying it into staging, verifying the copy,
// moving it into the store. It touches no catalog state, only a snapshot of the registry, so it
// runs off the manager queue (ExtensionInstallQueue); the registry commit, the event and the reply
// stay on the queue.

import CulvertBundle
import CulvertCore
import CulvertSystem

/// What staging reads of the catalog, taken on the manager queue.
struct InstallSnapshot: Sendable {
    var storeDirectory: String
    var stagingDirectory: String
    var registry: ExtensionRegistry
    /// culvertd's own version, for the manifest's `minimumCulvertdVersion`.
    var daemonVersion: SemanticVersion?
}

/// A staged install: the decision against the snapshot and, unless unchanged, the verified copy
/// in the store (not yet registered).
struct StagedInstall: Sendable {
    var path: String
    var identifier: String
    /// The registered entry the decision was made against.
    var previous: ExtensionInfo?
    /// The verified store copy; nil when the offered bundle is the installed one (`unchanged`).
    var copy: VerifiedBundle?
    var requireApproval: Bool
}

extension ExtensionCatalog {
    /// Checks the path, reads policy and keys afresh, verifies the source, decides (contract 6)
    /// against `snapshot`, and stores a verified copy. Touches only the file system.
    static func stage(
        path: String, allowDowngrade: Bool, configDirectory: String, snapshot: InstallSnapshot
    ) throws(ExtensionError) -> StagedInstall {
        guard path.hasPrefix("/") else { throw .invalidPath(path: path, reason: "not_absolute") }
        guard FileSystem.exists(path) else { throw .invalidPath(path: path, reason: "missing") }
        guard FileSystem.isDirectory(path) else { throw .invalidPath(path: path, reason: "not_a_directory") }
        let policy: ExtensionPolicy
        let trust: TrustedPublishers
        do {
            policy = try ExtensionPolicy.load(configDirectory: configDirectory)
            trust = try ExtensionPolicy.trust(configDirectory: configDirectory)
        } catch {
            throw .policyInvalid(path: error.path, description: error.description)
        }
        let offered: VerifiedBundle
        do {
            offered = try BundleVerifier.verify(directory: path, trust: trust, allowUnsigned: policy.developerMode)
        } catch {
            throw .rejected(error)
        }
        guard policy.allows(offered.publisher) else {
            throw .publisherNotAllowed(identifier: offered.identifier, publisher: offered.publisher.wireName)
        }
        if let required = ExtensionCompatibility.requiredVersion(of: offered.manifest, running: snapshot.daemonVersion) {
            throw .daemonTooOld(
                identifier: offered.identifier, required: "\(required)", running: snapshot.daemonVersion.map { "\($0)" } ?? "?")
        }
        let previous = snapshot.registry.extensions[offered.identifier]
        var staged = StagedInstall(
            path: path, identifier: offered.identifier, previous: previous, copy: nil, requireApproval: policy.requireApproval)
        switch InstallDecision.decide(installed: previous?.release, offered: offered.release, allowDowngrade: allowDowngrade) {
        case .unchanged:
            return staged
        case .downgradeRefused(let installed, let offeredVersion):
            throw .downgradeRefused(identifier: offered.identifier, installed: "\(installed)", offered: "\(offeredVersion)")
        case .publisherChangeRefused(let installed, let offeredPublisher):
            throw .publisherMismatch(identifier: offered.identifier, installed: installed.wireName, offered: offeredPublisher.wireName)
        case .installed, .replaced:
            break
        }
        staged.copy = try stageAndVerify(offered, trust: trust, policy: policy, snapshot: snapshot)
        return staged
    }

    /// Copies into staging, verifies the copy, and moves it into the store. Returns the copy as verified in place.
    private static func stageAndVerify(
        _ offered: VerifiedBundle, trust: TrustedPublishers, policy: ExtensionPolicy, snapshot: InstallSnapshot
    ) throws(ExtensionError) -> VerifiedBundle {
        let staging = snapshot.stagingDirectory + "/" + WallClock.randomIdentifier()
        let target = snapshot.storeDirectory + "/" + offered.contentDigest
        let bundleName = offered.identifier + BundleFormat.directorySuffix
        do {
            try FileSystem.createDirectory(staging, mode: 0o755)
        } catch {
            throw .storage(error)
        }
        do throws(BundleError) {
            let copied = try BundleInstaller.stageCopy(from: offered.path, into: staging)
            let copy = try BundleVerifier.verify(directory: copied, trust: trust, allowUnsigned: policy.developerMode)
            guard copy.contentDigest == offered.contentDigest else {
                throw BundleError.fileChangedDuringRead(path: offered.path)
            }
        } catch {
            try? FileSystem.removeTree(staging)  // the install failed either way; leftovers are cleared at start
            throw ExtensionError(staging: error)
        }
        do {
            if FileSystem.exists(target) {
                // The same content is already stored (for example a reinstalled older version).
                try FileSystem.removeTree(staging)
            } else {
                try FileSystem.rename(staging, to: target)
                try FileSystem.syncDirectory(snapshot.storeDirectory)
            }
        } catch {
            try? FileSystem.removeTree(staging)  // as above
            throw .storage(error)
        }
        do {
            return try BundleVerifier.verify(directory: target + "/" + bundleName, trust: trust, allowUnsigned: policy.developerMode)
        } catch {
            throw .rejected(error)
        }
    }
}
