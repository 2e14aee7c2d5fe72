// ExtensionCompatibility: whether this culvertd can run an installed extension — a manifest's
// `minimumCulvertdVersion` (contract 5) checked at install and again at every start, since the
// daemon may have been downgraded since the install.
//
// An extension that needs a newer daemon is not changed on disk (its registry entry and store copy
// stay, so upgrading culvertd again makes it usable); it is shown as `failed` with reason
// `daemon_too_old`, reported in GetStatus.problems, and its sessions are refused
// (`ExtensionNotUsable`).

import CulvertBundle
import CulvertCore
import CulvertSystem

enum ExtensionCompatibility {
    /// The reason an unusable extension is shown with.
    static let daemonTooOldReason = "daemon_too_old"

    /// Nil if `manifest` runs on a daemon of version `running` (an unparsable running version — a
    /// development build — runs everything); otherwise the version it needs.
    static func requiredVersion(of manifest: BundleManifest, running: SemanticVersion?) -> SemanticVersion? {
        guard let running, manifest.minimumCulvertdVersion > running else { return nil }
        return manifest.minimumCulvertdVersion
    }

    /// Re-reads each registered store copy's manifest. Returns the identifiers this daemon cannot
    /// run with their reason, and one problem for each. A copy whose manifest does not read is left
    /// to fail at launch, as before: this check is only about versions.
    static func check(_ registry: ExtensionRegistry, running: SemanticVersion?) -> (unusable: [String: String], problems: [Problem]) {
        var unusable: [String: String] = [:]
        var problems: [Problem] = []
        for info in registry.sorted {
            guard let bytes = try? FileSystem.readFile(info.storePath + "/" + BundleFormat.manifestFileName),  // unreadable: see above
                let manifest = try? BundleManifest.parse(bytes),  // likewise
                let required = requiredVersion(of: manifest, running: running)
            else { continue }
            unusable[info.identifier] = daemonTooOldReason
            problems.append(
                Problem(
                    kind: .extensionNotUsable, path: info.storePath,
                    description:
                        "\(info.identifier) \(info.versionDescription) needs culvertd \(required) or newer; this is \(running.map { "\($0)" } ?? "?"); its sessions are refused until culvertd is upgraded",
                    movedTo: nil))
        }
        return (unusable, problems)
    }
}

extension ExtensionCatalog {
    /// `info` as clients see it: with the upgrade policy in force; an extension this daemon cannot
    /// run is `failed`, with its reason.
    func shown(_ info: ExtensionInfo) -> ExtensionInfo {
        var shown = info
        shown.effectiveUpgradePolicy = info.upgradePolicy ?? defaultUpgradePolicy
        guard let reason = unusable[info.identifier] else { return shown }
        shown.state = .failed
        shown.reason = reason
        return shown
    }

    /// The installed extension `identifier` as clients see it (and as Connect checks it).
    func installed(_ identifier: String) -> ExtensionInfo? { registry.extensions[identifier].map(shown) }

    /// Every installed extension as clients see it, sorted by identifier.
    var listed: [ExtensionInfo] { registry.sorted.map(shown) }
}
