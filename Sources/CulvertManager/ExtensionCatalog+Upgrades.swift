// ExtensionCatalog+Upgrades: the registry changes of upgrade policies (issue 16) — a newer version
// staged while sessions run the extension, the policy set per extension, a staged version applied
// or dropped. Like every catalog change, each is a function from the registry to the next one,
// which ManagerService.commitRegistry writes before anyone is told.

import CulvertCore

extension ExtensionCatalog {
    /// The registry with `prepared` (a newer version, verified and in the store) staged on the
    /// installed entry, which becomes `replacing`; a version staged before is replaced (its copy,
    /// returned, is no longer referenced). The entry keeps running the installed version.
    func staging(_ prepared: PreparedInstall) -> (next: ExtensionRegistry, info: ExtensionInfo, replacedCopy: String?) {
        let new = prepared.info
        var info = registry.extensions[new.identifier] ?? prepared.previous ?? new
        let before = info.staged?.contentDigest
        info.staged = StagedUpgrade(
            displayName: new.displayName, version: new.version, build: new.build, capabilities: new.capabilities, source: new.source,
            storePath: new.storePath, contentDigest: new.contentDigest, stagedAt: new.installedAt)
        info.state = .replacing
        info.reason = "upgrade_pending"
        var next = registry
        next.extensions[new.identifier] = info
        let replaced = before.flatMap { $0 == new.contentDigest || next.referencedDigests.contains($0) ? nil : $0 }
        return (next, info, replaced)
    }

    /// The install that applies `identifier`'s staged version (nil: nothing is staged). Its
    /// `previous` is the running version, shown `enabled` (what sessions run).
    func applyingStaged(_ identifier: String) -> PreparedInstall? {
        guard let entry = registry.extensions[identifier], let info = entry.applyingStaged else { return nil }
        return PreparedInstall(outcome: .replaced, info: info, previous: entry.withoutStaged(reason: entry.reason))
    }

    /// The registry with `identifier`'s staged version forgotten (state back to `enabled`, with
    /// `reason`), its entry, and the digest of the dropped copy (left for gc). Nil registry:
    /// nothing was staged.
    func droppingStaged(_ identifier: String, reason: String) throws(ExtensionError) -> (
        next: ExtensionRegistry?, info: ExtensionInfo, dropped: StagedUpgrade?
    ) {
        guard let entry = registry.extensions[identifier] else { throw .notFound(identifier: identifier) }
        guard let staged = entry.staged else { return (nil, entry, nil) }
        var next = registry
        next.extensions[identifier] = entry.withoutStaged(reason: reason)
        return (next, entry.withoutStaged(reason: reason), staged)
    }

    /// The registry with `identifier`'s own upgrade policy set (nil: follow policy.json again).
    func settingPolicy(_ identifier: String, _ policy: UpgradePolicy?) throws(ExtensionError) -> (
        next: ExtensionRegistry?, info: ExtensionInfo
    ) {
        guard var info = registry.extensions[identifier] else { throw .notFound(identifier: identifier) }
        guard info.upgradePolicy != policy else { return (nil, info) }
        info.upgradePolicy = policy
        var next = registry
        next.extensions[identifier] = info
        return (next, info)
    }

    /// The policy in force for `identifier`: its own, else policy.json's default.
    func upgradePolicy(of identifier: String) -> UpgradePolicy {
        registry.extensions[identifier]?.upgradePolicy ?? defaultUpgradePolicy
    }
}
