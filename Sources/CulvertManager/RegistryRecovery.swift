// RegistryRecovery: registry.json read at start, or rebuilt from the verified store copies when
// it is missing or unreadable (contract 12) — never a silent empty start.
//
// The store holds every copy culvertd verified and renamed into place, named by content digest,
// so it is enough to know what is installed: each copy is verified again as at install (trusted
// keys and policy read afresh), its digest must match its directory name, and per identifier the
// newest version is registered (older copies stay for gc). State follows the policy as for a new
// install (`awaiting_approval` when approval is required, else `enabled`): an approval the lost
// registry held is not assumed. Sources are unknown, so a rebuilt entry names its store copy as
// its source. Every rebuild is a `registry_rebuilt` problem; an unreadable registry is moved
// aside first, and a copy that cannot be registered is a `store_copy_unusable` problem and kept.

import CulvertBundle
import CulvertCore
import CulvertSystem
import FoundationEssentials

struct RegistryRecovery {
    let registryPath: String
    let storeDirectory: String
    let stateDirectory: String
    let configDirectory: String

    /// The registry to start with, and what was wrong.
    struct Outcome {
        var registry: ExtensionRegistry
        var problems: [Problem] = []
    }

    /// Reads registry.json; rebuilds it when it is missing but the store holds copies, or when it
    /// is not a regular file or does not read and decode (moved aside first).
    func load(time: String) throws(SystemError) -> Outcome {
        var problems: [Problem] = []
        var movedTo: String?
        let why: String
        if let problem = try StateQuarantine.setAsideIfIrregular(registryPath, stateDirectory: stateDirectory) {
            problems.append(problem)
            movedTo = problem.movedTo
            why = "registry.json was not a regular file"
        } else if FileSystem.exists(registryPath) {
            do {
                return Outcome(registry: try ExtensionRegistry.load(path: registryPath))
            } catch {
                movedTo = try StateQuarantine.setAside(
                    registryPath, stateDirectory: stateDirectory, kind: .registryRebuilt, reason: "unreadable: \(error)"
                ).movedTo
                why = "registry.json was unreadable (\(error))"
            }
        } else {
            let copies = try FileSystem.listDirectory(storeDirectory)
            guard !copies.isEmpty else { return Outcome(registry: ExtensionRegistry()) }  // a first start
            why = "registry.json was missing while the store held \(copies.count) copies"
        }
        var outcome = try rebuild(time: time)
        let registered = outcome.registry.sorted.map { "\($0.identifier) \($0.versionDescription)" }
        problems.append(
            Problem(
                kind: .registryRebuilt, path: registryPath,
                description:
                    "\(why); rebuilt from the store: \(registered.isEmpty ? "nothing registered" : registered.joined(separator: ", "))",
                movedTo: movedTo))
        outcome.problems = problems + outcome.problems
        // Persisted only when every copy was accounted for: with a policy or key problem the next
        // start (after the administrator fixes it) rebuilds again instead of reading a short registry.
        if !outcome.problems.contains(where: { $0.kind == ProblemKind.storeCopyUnusable.rawValue }) {
            try outcome.registry.save(path: registryPath)
        }
        return outcome
    }

    /// Verifies every store copy and registers the newest version of each identifier.
    func rebuild(time: String) throws(SystemError) -> Outcome {
        var problems: [Problem] = []
        let entries = try FileSystem.listDirectory(storeDirectory)
        let policy: ExtensionPolicy
        let trust: TrustedPublishers
        do {
            policy = try ExtensionPolicy.load(configDirectory: configDirectory)
            trust = try ExtensionPolicy.trust(configDirectory: configDirectory)
        } catch {
            let problems = entries.map {
                Problem(
                    kind: .storeCopyUnusable, path: storeDirectory + "/" + $0,
                    description: "not verified: the policy is unreadable (\(error.path): \(error.description))", movedTo: nil)
            }
            return Outcome(registry: ExtensionRegistry(), problems: problems)
        }
        var newest: [String: VerifiedBundle] = [:]
        for digest in entries {
            let directory = storeDirectory + "/" + digest
            do throws(RecoveryRefusal) {
                let copy = try verifiedCopy(in: directory, digest: digest, trust: trust, developerMode: policy.developerMode)
                guard policy.allows(copy.publisher) else { throw RecoveryRefusal("publisher \(copy.publisher.wireName) is not allowed") }
                if let other = newest[copy.identifier], other.version >= copy.version { continue }
                newest[copy.identifier] = copy
            } catch {
                problems.append(Problem(kind: .storeCopyUnusable, path: directory, description: error.description, movedTo: nil))
            }
        }
        var registry = ExtensionRegistry()
        for copy in newest.values {
            let state: ExtensionState = policy.requireApproval ? .awaitingApproval : .enabled
            registry.extensions[copy.identifier] = ExtensionInfo(
                recovered: copy, state: state, reason: state == .enabled ? Self.enabledReason : "approval_required", time: time)
        }
        return Outcome(registry: registry, problems: problems)
    }

    /// The reason a rebuilt, enabled entry carries.
    static let enabledReason = "recovered"

    private func verifiedCopy(
        in directory: String, digest: String, trust: TrustedPublishers, developerMode: Bool
    ) throws(RecoveryRefusal) -> VerifiedBundle {
        guard FileSystem.isDirectory(directory) else { throw RecoveryRefusal("not a directory") }
        let names: [String]
        do {
            names = try FileSystem.listDirectory(directory)
        } catch {
            throw RecoveryRefusal("\(error)")
        }
        guard names.count == 1, let name = names.first, name.hasSuffix(BundleFormat.directorySuffix) else {
            throw RecoveryRefusal("expected one <identifier>\(BundleFormat.directorySuffix), found \(names.count) entries")
        }
        let copy: VerifiedBundle
        do {
            copy = try BundleVerifier.verify(directory: directory + "/" + name, trust: trust, allowUnsigned: developerMode)
        } catch {
            throw RecoveryRefusal("verification failed: \(error.description)")
        }
        guard copy.contentDigest == digest else {
            throw RecoveryRefusal("content digest \(copy.contentDigest) does not match its directory")
        }
        return copy
    }
}

/// Why one store copy was not registered.
struct RecoveryRefusal: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension ExtensionInfo {
    /// A registry entry for a store copy found while rebuilding: its source is the copy itself.
    init(recovered copy: VerifiedBundle, state: ExtensionState, reason: String, time: String) {
        self.init(
            identifier: copy.identifier, displayName: copy.manifest.displayName, version: "\(copy.manifest.version)",
            build: Int64(copy.manifest.build), publisher: copy.publisher.wireName, signed: copy.isSigned, state: state, reason: reason,
            capabilities: copy.manifest.capabilities.map(\.rawValue).sorted(), source: copy.path, storePath: copy.path,
            contentDigest: copy.contentDigest, installedAt: time)
    }
}
