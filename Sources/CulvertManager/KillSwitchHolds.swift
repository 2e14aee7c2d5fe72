// KillSwitchHolds: the kill switches culvertd holds, one per profile, from the first Connect until
// an explicit Disconnect or the profile's removal — not across provider exits, restarts, upgrades,
// re-exec or culvertd's death, because the hold is kernel state (KillSwitchRules: policy rules
// tagged 156; KillSwitchFirewall: one nftables table shared by every hold, which drops IPv4 that
// names its output device past the rules) plus a record beside the session records:
//
//   <runtime-dir>/killswitch/<profile>.json   (root, 0600): slot, exceptions, since when
//
// The record is written before the rules and removed after them, so a crash in between leaves a
// record (re-completed at start) rather than rules nobody owns. A starting culvertd (`adopt`) keeps
// every hold whose profile still exists — adding any rule that is missing, never removing one
// first — and removes holds whose profile is gone, and rules no record names, reporting them.
// Confined to the manager queue.

import CulvertCore
import CulvertSystem
import FoundationEssentials
import Logging

/// Why a kill switch could not be held.
struct KillSwitchError: Error, CustomStringConvertible {
    var description: String
}

final class KillSwitchHolds {
    /// One held kill switch, as its record says.
    struct Hold: Codable, Equatable {
        static let currentFormat = 1
        var format = Hold.currentFormat
        var profile: String
        /// KillSwitchRules slot: the priorities and table T_slot.
        var slot: Int
        /// The profile's exceptions when the hold began (validated prefixes).
        var allowed: [String]
        var heldSince: String

        var table: UInt32 { KillSwitchRules.table(slot: slot) }
        /// Parsed exceptions; a text that no longer parses is left out (it was validated before).
        var allowedPrefixes: [IPPrefix] { allowed.compactMap { try? IPPrefix($0) } }  // try?: validated when saved
        var passRules: [PolicyRule] { KillSwitchRules.passRules(slot: slot, allowed: allowedPrefixes) }
    }

    let directory: String
    let logger: Logger
    private(set) var holds: [String: Hold] = [:]

    init(runtimeDirectory: String, logger: Logger) {
        directory = runtimeDirectory + "/killswitch"
        self.logger = logger
    }

    func path(_ profile: String) -> String { directory + "/\(profile).json" }

    func table(for profile: String) -> UInt32? { holds[profile]?.table }

    /// Holds `profile`'s kill switch (nothing to do if it is held already): record, then the pass
    /// rules, then the shared `unreachable` rules if they are not there yet. All or nothing.
    func hold(_ profile: Profile, socket: NetlinkRouteSocket) throws(KillSwitchError) {
        if holds[profile.name] != nil { return }
        let used = Set(holds.values.map(\.slot))
        guard let slot = (0..<KillSwitchRules.maximumHolds).first(where: { !used.contains($0) }) else {
            throw KillSwitchError(description: "at most \(KillSwitchRules.maximumHolds) kill switches can be held at once")
        }
        let hold = Hold(profile: profile.name, slot: slot, allowed: profile.killSwitchAllow, heldSince: WallClock.rfc3339Now())
        do throws(SystemError) {
            try FileSystem.createDirectory(directory, mode: 0o700)
            try write(hold)
        } catch {
            throw KillSwitchError(description: "writing \(path(profile.name)): \(error)")
        }
        var added: [PolicyRule] = []
        var failure: String?
        do throws(NetlinkError) {
            let present = Set(try socket.rules())
            for rule in hold.passRules + KillSwitchRules.unreachableRules where !present.contains(rule) {
                try socket.addRule(rule)
                added.append(rule)
            }
        } catch {
            failure = "adding the kill switch's rules: \(error)"
        }
        if failure == nil {
            do throws(SystemError) { try replaceFirewall(with: Array(holds.values) + [hold]) } catch {
                failure = "adding the kill switch's nftables table: \(error)"
            }
        }
        if let failure {
            // The firewall batch is all or nothing: only the rules need undoing.
            for rule in added.reversed() { remove(rule, socket: socket) }
            // try?: a record without rules is re-completed or removed at the next start.
            try? FileSystem.removeFile(path(profile.name))
            throw KillSwitchError(description: failure)
        }
        holds[profile.name] = hold
        logger.notice("kill switch of \(profile.name) held (table \(hold.table), \(added.count) rules added)")
    }

    /// Releases `profile`'s kill switch: the `unreachable` rules first if no other hold remains,
    /// then its pass rules, then its record. The session's routes are already gone.
    func release(_ profile: String, socket: NetlinkRouteSocket?) {
        guard let hold = holds.removeValue(forKey: profile) else { return }
        do throws(SystemError) {
            if holds.isEmpty { try KillSwitchFirewallSocket().delete() } else { try replaceFirewall(with: Array(holds.values)) }
        } catch {
            logger.error("kill switch of \(profile): nftables table: \(error); it stays until the next start")
        }
        if let socket {
            if holds.isEmpty { for rule in KillSwitchRules.unreachableRules { remove(rule, socket: socket) } }
            for rule in hold.passRules.reversed() { remove(rule, socket: socket) }
        } else {
            logger.error("kill switch of \(profile): no netlink socket; its rules stay until the next start")
        }
        // try?: a record whose profile is not held is removed at the next start anyway.
        try? FileSystem.removeFile(path(profile))
        logger.notice("kill switch of \(profile) released")
    }

    /// At start (after a crash, a re-exec or a stop): takes over every recorded hold whose profile
    /// `exists`, completing its rules if some are missing (nothing is removed first: no gap), and
    /// removes the rest — holds of removed profiles, records that do not read, rules no record
    /// names. Returns the problems to report (stale holds removed).
    func adopt(socket: NetlinkRouteSocket, exists: (String) -> Bool) -> [Problem] {
        var problems: [Problem] = []
        // try?: no directory means nothing was held.
        let entries = (try? FileSystem.listDirectory(directory)) ?? []
        var records: [Hold] = []
        for entry in entries.sorted() where entry.hasSuffix(".json") && !FileSystem.isTemporaryName(entry) {
            let file = directory + "/" + entry
            if let bytes = try? FileSystem.readFile(file),  // try?: unreadable counts as unusable
                let hold = try? JSONDecoder().decode(Hold.self, from: Data(bytes)),  // try?: likewise
                hold.format == Hold.currentFormat, entry == "\(hold.profile).json",
                (0..<KillSwitchRules.maximumHolds).contains(hold.slot), !records.contains(where: { $0.slot == hold.slot })
            {
                records.append(hold)
            } else {
                logger.warning("discarding unreadable kill switch record \(file)")
                problems.append(
                    Problem(kind: .staleKillSwitch, path: file, description: "unreadable kill switch record removed", movedTo: nil))
                try? FileSystem.removeFile(file)  // try?: already gone is the goal
            }
        }
        let listing: KillSwitchRules.Listing
        do throws(NetlinkError) { listing = KillSwitchRules.classify(try socket.rules()) } catch {
            logger.error("listing the kill switch's rules: \(error); holds kept as recorded")
            for hold in records where exists(hold.profile) { holds[hold.profile] = hold }
            return problems
        }
        var kept: [Hold] = []
        for hold in records {
            if exists(hold.profile) {
                kept.append(hold)
                holds[hold.profile] = hold
            } else {
                problems.append(
                    Problem(
                        kind: .staleKillSwitch, path: path(hold.profile),
                        description: "kill switch of removed profile \(hold.profile) released", movedTo: nil))
                logger.notice("kill switch of \(hold.profile): its profile is gone; released")
                try? FileSystem.removeFile(path(hold.profile))  // try?: already gone is the goal
            }
        }
        // Complete what is kept before anything is removed.
        let present = Set(listing.slots.values.joined()).union(listing.unreachable)
        for hold in kept {
            for rule in hold.passRules where !present.contains(rule) { add(rule, socket: socket, for: hold.profile) }
        }
        if !kept.isEmpty {
            for rule in KillSwitchRules.unreachableRules where !present.contains(rule) { add(rule, socket: socket, for: "every hold") }
        } else {
            for rule in listing.unreachable { remove(rule, socket: socket) }
        }
        problems += adoptFirewall(kept)
        let keptRules = Set(kept.flatMap(\.passRules))
        for rule in listing.slots.values.joined() where !keptRules.contains(rule) { remove(rule, socket: socket) }
        for rule in listing.foreign { remove(rule, socket: socket) }
        if !listing.foreign.isEmpty || listing.slots.keys.contains(where: { slot in !kept.contains { $0.slot == slot } }) {
            problems.append(
                Problem(
                    kind: .staleKillSwitch, path: directory, description: "kill switch rules without a hold record removed", movedTo: nil))
        }
        return problems
    }

    /// The firewall table at start: replaced in one atomic batch if holds are kept (it stays in
    /// force throughout; a missing one is created), removed and reported if none is.
    private func adoptFirewall(_ kept: [Hold]) -> [Problem] {
        do throws(SystemError) {
            if !kept.isEmpty {
                try replaceFirewall(with: kept)
            } else if try KillSwitchFirewallSocket().delete() {
                logger.notice("kill switch: removed an nftables table no hold owns")
                return [
                    Problem(
                        kind: .staleKillSwitch, path: "nftables inet \(KillSwitchFirewall.tableName)",
                        description: "kill switch firewall table without a hold removed", movedTo: nil)
                ]
            }
        } catch {
            logger.error("kill switch: nftables table at start: \(error)")
        }
        return []
    }

    /// Creates or replaces the firewall table for `holds` (their exceptions, each once).
    private func replaceFirewall(with holds: [Hold]) throws(SystemError) {
        let allowed = holds.sorted { $0.slot < $1.slot }.flatMap(\.allowedPrefixes)
        try KillSwitchFirewallSocket().replace(allowed: allowed, mark: KillSwitchRules.protectedMark)
    }

    /// Whether `rule` is one the kill switch owns (kept by the leftover sweep: `adopt` decides).
    func owns(_ rule: PolicyRule) -> Bool {
        let listing = KillSwitchRules.classify([rule])
        return listing.others.isEmpty
    }

    private func write(_ hold: Hold) throws(SystemError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Force try: a record of strings and integers always encodes.
        try FileSystem.writeAtomically(Array(try! encoder.encode(hold)), to: path(hold.profile), mode: 0o600)
    }

    /// Adds a missing rule; one that appeared meanwhile counts as added.
    private func add(_ rule: PolicyRule, socket: NetlinkRouteSocket, for profile: String) {
        do throws(NetlinkError) {
            try socket.addRule(rule)
            logger.notice("kill switch of \(profile): restored missing rule \(rule)")
        } catch {
            if !error.isAlreadyPresent { logger.error("kill switch of \(profile): adding \(rule): \(error)") }
        }
    }

    /// Removes a rule; one already gone counts as removed.
    private func remove(_ rule: PolicyRule, socket: NetlinkRouteSocket) {
        do throws(NetlinkError) { try socket.removeRule(rule) } catch {
            if !error.isNotFound { logger.error("kill switch: removing \(rule): \(error)") }
        }
    }
}
