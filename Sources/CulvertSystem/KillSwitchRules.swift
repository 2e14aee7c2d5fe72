// KillSwitchRules: the policy routing rules of a held kill switch, as values, and the reading of
// listed rules back into holds (a restarted culvertd adopts what the kernel still has). Pure: the
// rules are applied with NetlinkRouteSocket like any other.
//
// Per held profile (slot k, table T_k = firstTable + k), for IPv4 and IPv6:
//
//     32600+k: fwmark M lookup main        the provider's protected socket (Protect marks it M)
//     32620+k: to PREFIX lookup main        each of the administrator's exceptions (+ fe80::/10)
//     32640+k: lookup T_k                   the session's own table: its routes through its TUN
//     32690:   unreachable                  shared by every hold: installed with the first, removed with the last
//
// Everything else reaches `unreachable` before the kernel's `lookup main` (32766); loopback and the
// host's own addresses are answered by the local table at priority 0. The bands keep every pass
// rule of every hold before every session table, so one session's default route never captures
// another provider's protected socket. All rules carry Culvert's protocol (156).

/// The rules of the kill switch, and how listed rules map back to holds.
public enum KillSwitchRules {
    /// Most profiles holding a kill switch at once (the width of each priority band).
    public static let maximumHolds = 16
    /// T_0; slot k uses `firstTable + k` (0x9c50…0x9c5f, next to the full-tunnel table 0x9c43).
    public static let firstTable: UInt32 = 0x9c50
    /// First priority of the `fwmark M lookup main` band.
    public static let markRulePriority: UInt32 = 32_600
    /// First priority of the `to PREFIX lookup main` band.
    public static let allowRulePriority: UInt32 = 32_620
    /// First priority of the `lookup T_k` band.
    public static let tableRulePriority: UInt32 = 32_640
    /// The shared `unreachable` rule: after every band, before the full-tunnel rules (32700) and the
    /// kernel's `lookup main` (32766).
    public static let unreachableRulePriority: UInt32 = 32_690
    /// The mark of sockets a provider protected (Descriptor+IPSocket, SO_MARK).
    public static let protectedMark: UInt32 = CulvertNetlink.fullTunnelTable
    /// Always allowed: IPv6 link-local (neighbour discovery, DHCPv6 and router solicitations to
    /// link-local peers; their multicast destinations, ff00::/8, are in the local table anyway).
    public static let alwaysAllowed: [IPPrefix] = [
        // Force try: a constant that parses.
        try! IPPrefix("fe80::/10")
    ]

    /// The session table of `slot`.
    public static func table(slot: Int) -> UInt32 { firstTable + UInt32(slot) }

    /// The pass rules of one hold, both families, in the order to add them (marks, exceptions,
    /// table). `allowed` prefixes of one family only get a rule in that family.
    public static func passRules(slot: Int, allowed: [IPPrefix]) -> [PolicyRule] {
        precondition((0..<maximumHolds).contains(slot), "kill switch slot out of range")
        let offset = UInt32(slot)
        var rules: [PolicyRule] = []
        for family in IPFamily.allCases {
            rules.append(
                PolicyRule(
                    family: family, priority: markRulePriority + offset, table: CulvertNetlink.mainTable,
                    selector: .firewallMark(protectedMark)))
        }
        var seen = Set<IPPrefix>()
        for prefix in alwaysAllowed + allowed where seen.insert(prefix).inserted {
            rules.append(
                PolicyRule(
                    family: prefix.family, priority: allowRulePriority + offset, table: CulvertNetlink.mainTable,
                    selector: .destination(prefix)))
        }
        for family in IPFamily.allCases {
            rules.append(PolicyRule(family: family, priority: tableRulePriority + offset, table: table(slot: slot), selector: nil))
        }
        return rules
    }

    /// The shared `unreachable` rules, both families.
    public static var unreachableRules: [PolicyRule] {
        IPFamily.allCases.map { PolicyRule.unreachable(family: $0, priority: unreachableRulePriority) }
    }

    /// Listed rules (Culvert's, from `NetlinkRouteSocket.rules()`) sorted into holds.
    public struct Listing: Sendable, Equatable {
        /// Each slot's pass rules found, by slot.
        public var slots: [Int: [PolicyRule]] = [:]
        /// The shared `unreachable` rules found.
        public var unreachable: [PolicyRule] = []
        /// Culvert's rules outside the kill switch's priorities (full tunnels' rules).
        public var others: [PolicyRule] = []
        /// Rules at a kill switch priority that the kill switch never makes (a different selector,
        /// table or action): not trusted as a hold, removed as leftovers.
        public var foreign: [PolicyRule] = []

        /// The exceptions slot `slot`'s rules allow (without the ones always allowed).
        public func allowed(slot: Int) -> [IPPrefix] {
            (slots[slot] ?? []).compactMap { rule in
                guard case .destination(let prefix) = rule.selector, !KillSwitchRules.alwaysAllowed.contains(prefix) else { return nil }
                return prefix
            }
        }

        /// Whether slot `slot` has every rule a hold with `allowed` consists of.
        public func isComplete(slot: Int, allowed: [IPPrefix]) -> Bool {
            Set(KillSwitchRules.passRules(slot: slot, allowed: allowed)).isSubset(of: Set(slots[slot] ?? []))
                && Set(KillSwitchRules.unreachableRules).isSubset(of: Set(unreachable))
        }
    }

    /// Sorts `rules` by what the kill switch would have made them for. A rule counts as a slot's
    /// only if it is exactly such a rule (priority, selector, table, action), so a tampered or
    /// unknown rule in the bands is `foreign`.
    public static func classify(_ rules: [PolicyRule]) -> Listing {
        var listing = Listing()
        let bandWidth = UInt32(maximumHolds)
        for rule in rules {
            let priority = rule.priority
            if priority == unreachableRulePriority {
                if rule.action == .unreachable && rule.selector == nil {
                    listing.unreachable.append(rule)
                } else {
                    listing.foreign.append(rule)
                }
                continue
            }
            let bands: [(UInt32, (PolicyRule, Int) -> Bool)] = [
                (markRulePriority, { r, _ in r.selector == .firewallMark(protectedMark) && r.table == CulvertNetlink.mainTable }),
                (
                    allowRulePriority,
                    { r, _ in
                        if case .destination = r.selector { return r.table == CulvertNetlink.mainTable }
                        return false
                    }
                ),
                (tableRulePriority, { r, slot in r.selector == nil && r.table == table(slot: slot) }),
            ]
            guard let band = bands.first(where: { priority >= $0.0 && priority < $0.0 + bandWidth }) else {
                listing.others.append(rule)
                continue
            }
            let slot = Int(priority - band.0)
            if rule.action == .lookup && band.1(rule, slot) {
                listing.slots[slot, default: []].append(rule)
            } else {
                listing.foreign.append(rule)
            }
        }
        return listing
    }
}
