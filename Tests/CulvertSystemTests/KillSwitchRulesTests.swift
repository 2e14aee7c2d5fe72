// KillSwitchRules: the rules of a hold as `ip` lines (golden), their reading back from a listing
// (classify), and the same round trip through the kernel in a private namespace: added with
// NetlinkRouteSocket, listed, classified, routing decided by them, removed to the baseline.

import CulvertSystem
import XCTest

private func prefixes(_ texts: String...) throws -> [IPPrefix] { try texts.map { try IPPrefix($0) } }

final class KillSwitchRulesTests: XCTestCase {
    func testPassRulesOfASlotAsIPLines() throws {
        let rules = KillSwitchRules.passRules(slot: 2, allowed: try prefixes("192.168.1.0/24", "fd00:1::/64", "fe80::/10"))
        XCTAssertEqual(
            rules.map { NetworkStep.addRule($0).ipCommand }.joined(separator: "\n"),
            """
            ip -4 rule add fwmark 0x9c43 table main priority 32602 proto 156
            ip -6 rule add fwmark 0x9c43 table main priority 32602 proto 156
            ip -6 rule add to fe80::/10 table main priority 32622 proto 156
            ip -4 rule add to 192.168.1.0/24 table main priority 32622 proto 156
            ip -6 rule add to fd00:1::/64 table main priority 32622 proto 156
            ip -4 rule add table 40018 priority 32642 proto 156
            ip -6 rule add table 40018 priority 32642 proto 156
            """)
        XCTAssertEqual(
            KillSwitchRules.unreachableRules.map { NetworkStep.addRule($0).ipCommand },
            ["ip -4 rule add unreachable priority 32690 proto 156", "ip -6 rule add unreachable priority 32690 proto 156"])
        XCTAssertEqual(KillSwitchRules.table(slot: 2), 0x9c52)
    }

    func testEveryPassRuleComesBeforeEverySessionTableAndTheUnreachableRule() {
        let all = (0..<KillSwitchRules.maximumHolds).flatMap { KillSwitchRules.passRules(slot: $0, allowed: []) }
        let passes = all.filter { $0.table == CulvertNetlink.mainTable }.map(\.priority)
        let tables = all.filter { $0.table != CulvertNetlink.mainTable }.map(\.priority)
        XCTAssertLessThan(passes.max() ?? .max, tables.min() ?? 0)
        XCTAssertLessThan(tables.max() ?? .max, KillSwitchRules.unreachableRulePriority)
        XCTAssertLessThan(KillSwitchRules.unreachableRulePriority, CulvertNetlink.suppressRulePriority)
    }

    func testClassifyReadsHoldsBackAndSetsAsideWhatItNeverMakes() throws {
        let allowed = try prefixes("10.1.0.0/16")
        let slot0 = KillSwitchRules.passRules(slot: 0, allowed: allowed)
        let slot5 = KillSwitchRules.passRules(slot: 5, allowed: [])
        let fullTunnel = NetworkStep.fullTunnel(family: .ipv4, interfaceIndex: 3).compactMap { step -> PolicyRule? in
            if case .addRule(let rule) = step { return rule }
            return nil
        }
        let tampered = [
            // A lookup of another table in the session-table band, a blackhole-like rule at the unreachable priority
            // (modelled as a lookup), a mark rule with another mark.
            PolicyRule(family: .ipv4, priority: KillSwitchRules.tableRulePriority + 1, table: 7, selector: nil),
            PolicyRule(family: .ipv6, priority: KillSwitchRules.unreachableRulePriority, table: 254, selector: nil),
            PolicyRule(family: .ipv4, priority: KillSwitchRules.markRulePriority + 3, table: 254, selector: .firewallMark(1)),
        ]
        let listing = KillSwitchRules.classify(slot0 + slot5 + KillSwitchRules.unreachableRules + fullTunnel + tampered)
        XCTAssertEqual(Set(listing.slots.keys), [0, 5])
        XCTAssertEqual(listing.slots[0].map(Set.init), Set(slot0))
        XCTAssertEqual(listing.allowed(slot: 0), allowed)
        XCTAssertEqual(listing.allowed(slot: 5), [])
        XCTAssertEqual(listing.unreachable, KillSwitchRules.unreachableRules)
        XCTAssertEqual(listing.others, fullTunnel)
        XCTAssertEqual(listing.foreign, tampered)
        XCTAssertTrue(listing.isComplete(slot: 0, allowed: allowed))
        XCTAssertFalse(listing.isComplete(slot: 0, allowed: try prefixes("10.2.0.0/16")), "an exception without its rule")
        XCTAssertFalse(KillSwitchRules.classify(slot0).isComplete(slot: 0, allowed: allowed), "no unreachable rule")
    }

    /// In a private namespace: the rules go in through netlink, list back exactly (the parser of
    /// listed rules), make an off-tunnel destination unreachable while the session table and the
    /// exceptions still route, and come out again to the baseline.
    func testRulesRoundTripThroughTheKernelAndBlockEverythingElse() {
        withPrivateNetworkNamespace { namespace in
            try namespace.run("ip link set dev lo up")
            try namespace.run("ip link add culks0 type veth peer name culks1")
            try namespace.run("ip link set dev culks1 up")
            try namespace.run("ip link set dev culks0 up")
            try namespace.run("ip -4 address add 192.0.2.1/24 dev culks0")
            try namespace.run("ip -4 route add 198.51.100.0/24 via 192.0.2.2 dev culks0")
            try namespace.run("ip -4 route add 203.0.113.0/24 via 192.0.2.2 dev culks0")
            try namespace.run("ip -6 route add 2001:db8::/64 dev culks0")
            let socket = try NetlinkRouteSocket()
            let baseline = try namespace.snapshot()
            func routeGet(_ destination: String, mark: String? = nil, device: String? = nil) -> String {
                // ip route get fails ("Network is unreachable") when a rule says unreachable.
                do {
                    let routes =
                        try mark.map { try namespace.objects("route", "get", destination, "mark", $0) }
                        ?? device.map { try namespace.objects("route", "get", destination, "oif", $0) }
                        ?? namespace.objects("route", "get", destination)
                    return "\(routes.first?["dev"] ?? "none")"
                } catch {
                    return "unreachable"
                }
            }
            XCTAssertEqual(routeGet("198.51.100.7"), "culks0", "the underlay routes before the kill switch")

            let allowed = try prefixes("203.0.113.0/24")
            let rules = KillSwitchRules.passRules(slot: 1, allowed: allowed) + KillSwitchRules.unreachableRules
            for rule in rules { try socket.addRule(rule) }
            try namespace.run("ip -4 route add 10.77.0.0/24 dev culks0 table \(KillSwitchRules.table(slot: 1)) proto 156")

            let listed = try socket.rules()
            XCTAssertEqual(Set(listed), Set(rules), "listed exactly as added")
            let listing = KillSwitchRules.classify(listed)
            XCTAssertEqual(Set(listing.slots.keys), [1])
            XCTAssertEqual(listing.allowed(slot: 1), allowed)
            XCTAssertTrue(listing.isComplete(slot: 1, allowed: allowed))
            XCTAssertEqual(listing.foreign, [])

            XCTAssertEqual(routeGet("198.51.100.7"), "unreachable", "off the tunnel: blocked")
            XCTAssertEqual(routeGet("203.0.113.9"), "culks0", "an exception goes through main")
            XCTAssertEqual(routeGet("198.51.100.7", mark: "0x9c43"), "culks0", "the protected socket's mark goes through main")
            XCTAssertEqual(routeGet("10.77.0.9"), "culks0", "the session's table routes")
            XCTAssertEqual(routeGet("127.0.0.1"), "lo", "loopback is the local table's, before every rule")
            XCTAssertEqual(routeGet("2001:db8::7", device: "culks0"), "unreachable", "IPv6: a device-bound socket is blocked too")
            // The documented limit (docs/notes-killswitch.md): for IPv4 the kernel answers a failed
            // lookup of a device-bound flow (SO_BINDTODEVICE, IP_UNICAST_IF, IP_PKTINFO) by assuming
            // the destination is on that link. KillSwitchFirewall's nftables table is what drops such
            // flows (KillSwitchTests); if this ever says unreachable, routing alone would do.
            XCTAssertEqual(routeGet("198.51.100.7", device: "culks0"), "culks0", "IPv4: the kernel's on-link fallback")

            try namespace.run("ip -4 route del 10.77.0.0/24 dev culks0 table \(KillSwitchRules.table(slot: 1)) proto 156")
            for rule in rules.reversed() { try socket.removeRule(rule) }
            XCTAssertEqual(try socket.rules(), [])
            XCTAssertEqual(try namespace.snapshot(), baseline)
        }
    }
}
