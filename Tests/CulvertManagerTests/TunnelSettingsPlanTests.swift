// Golden tests of TunnelSettingsPlan, in the style of Tailscale's router tests: a provider's
// SetTunnelNetworkSettings (as the JSON it sends) → the exact `ip` command lines culvertd's
// transaction performs, in order, then the DNS as resolvectl would get it; or the typed refusal.
// NetworkStepIPCommandTests (CulvertSystemTests) checks in a namespace that the lines make the
// same kernel state as the steps, so these texts are what the kernel is told.

import CulvertSystem
import CulvertVarlink
import XCTest

@testable import CulvertManager

/// The TUN's interface index in these tests, rendered as `tunName`.
private let tunIndex: Int32 = 7
private let tunName = "cvt0"

/// The plan for the settings `json` as text: one `ip` line per network step, then one resolvectl
/// line per DNS command (systemd-resolved backend), then the undo a re-adopting culvertd would run.
private func plan(_ json: String, fullTunnelAvailable: Bool = true) throws -> String {
    let settings = try JSONParser.parse(Array(json.utf8))
    let plan = try TunnelSettingsPlan(settings: settings, interfaceIndex: tunIndex, fullTunnelAvailable: fullTunnelAvailable)
    // What the plan produces must pass the transaction's own checks (nothing is refused there).
    try NetworkTransaction(steps: plan.steps).validate()
    func line(_ step: NetworkStep) -> String { step.ipCommand { $0 == tunIndex ? tunName : nil } }
    var lines = plan.steps.map(line)
    if let dns = plan.dns {
        let applied = AppliedDNS(
            backend: .resolved(resolvectl: "/usr/bin/resolvectl"), interfaceName: tunName, session: "s1", settings: dns,
            fullTunnel: plan.fullTunnel)
        lines += DNSConfigurator.resolvectlArguments(for: applied).map { (["resolvectl"] + $0).joined(separator: " ") }
    }
    let undo = AppliedNetworkTransaction(adopting: plan.steps).undoSteps.map(line)
    return (lines + ["# undo"] + undo).joined(separator: "\n")
}

/// The refusal of the settings `json`: "field: reason (detail)".
private func refusal(_ json: String, fullTunnelAvailable: Bool = true) throws -> String {
    let settings = try JSONParser.parse(Array(json.utf8))
    do {
        let plan = try TunnelSettingsPlan(settings: settings, interfaceIndex: tunIndex, fullTunnelAvailable: fullTunnelAvailable)
        return "accepted: \(plan.steps.count) steps"
    } catch {
        return error.description
    }
}

final class TunnelSettingsPlanTests: XCTestCase {
    func testSplitTunnelIPv4() throws {
        XCTAssertEqual(
            try plan(#"{"mtu": 1420, "ipv4": {"addresses": ["10.77.0.1/24"], "includedRoutes": ["10.99.0.0/24", "172.16.0.0/12"]}}"#),
            """
            ip link set dev cvt0 mtu 1420
            ip -4 address add 10.77.0.1/24 dev cvt0
            ip link set dev cvt0 up
            ip -4 route add 10.99.0.0/24 dev cvt0 proto 156
            ip -4 route add 172.16.0.0/12 dev cvt0 proto 156
            # undo
            ip -4 route del 172.16.0.0/12 dev cvt0 proto 156
            ip -4 route del 10.99.0.0/24 dev cvt0 proto 156
            ip -4 address del 10.77.0.1/24 dev cvt0
            """)
    }

    /// wg-quick's everyday shape: the address's own network is also an allowed IP. The kernel routes
    /// it already (the address's prefix route), so the plan adds no second route that would fail EEXIST.
    func testAnIncludedRouteEqualToAnAddressNetworkIsTheKernelsPrefixRoute() throws {
        XCTAssertEqual(
            try plan(
                #"{"ipv4": {"addresses": ["10.77.0.1/24"], "includedRoutes": ["10.77.0.0/24", "10.99.0.0/24"]}, "#
                    + #""ipv6": {"addresses": ["fd00:77::1/64", "fd00:78::1/128"], "includedRoutes": ["fd00:77::/64", "fd00:78::1/128"]}}"#),
            """
            ip -4 address add 10.77.0.1/24 dev cvt0
            ip -6 address add fd00:77::1/64 dev cvt0
            ip -6 address add fd00:78::1/128 dev cvt0
            ip link set dev cvt0 up
            ip -4 route add 10.99.0.0/24 dev cvt0 proto 156
            ip -6 route add fd00:78::1/128 dev cvt0 proto 156
            # undo
            ip -6 route del fd00:78::1/128 dev cvt0 proto 156
            ip -4 route del 10.99.0.0/24 dev cvt0 proto 156
            ip -6 address del fd00:78::1/128 dev cvt0
            ip -6 address del fd00:77::1/64 dev cvt0
            ip -4 address del 10.77.0.1/24 dev cvt0
            """)
    }

    func testSplitTunnelIPv6() throws {
        XCTAssertEqual(
            try plan(#"{"mtu": 1420, "ipv6": {"addresses": ["fd77::1/64"], "includedRoutes": ["fd99::/48"]}}"#),
            """
            ip link set dev cvt0 mtu 1420
            ip -6 address add fd77::1/64 dev cvt0
            ip link set dev cvt0 up
            ip -6 route add fd99::/48 dev cvt0 proto 156
            # undo
            ip -6 route del fd99::/48 dev cvt0 proto 156
            ip -6 address del fd77::1/64 dev cvt0
            """)
    }

    func testDualStackAddressesComeBeforeTheLinkAndRoutesAfterIt() throws {
        let json = """
            {"tunnelRemoteAddress": "198.51.100.1",
             "ipv4": {"addresses": ["10.77.0.2/32", "10.78.0.2/32"], "includedRoutes": ["10.99.0.0/24"]},
             "ipv6": {"addresses": ["fd77::2/128"], "includedRoutes": ["fd99::/48", "2001:db8::/32"]}}
            """
        XCTAssertEqual(
            try plan(json),
            """
            ip -4 address add 10.77.0.2/32 dev cvt0
            ip -4 address add 10.78.0.2/32 dev cvt0
            ip -6 address add fd77::2/128 dev cvt0
            ip link set dev cvt0 up
            ip -4 route add 10.99.0.0/24 dev cvt0 proto 156
            ip -6 route add fd99::/48 dev cvt0 proto 156
            ip -6 route add 2001:db8::/32 dev cvt0 proto 156
            # undo
            ip -6 route del 2001:db8::/32 dev cvt0 proto 156
            ip -6 route del fd99::/48 dev cvt0 proto 156
            ip -4 route del 10.99.0.0/24 dev cvt0 proto 156
            ip -6 address del fd77::2/128 dev cvt0
            ip -4 address del 10.78.0.2/32 dev cvt0
            ip -4 address del 10.77.0.2/32 dev cvt0
            """)
    }

    func testFullTunnelPutsTheDefaultRoutesInItsTableBehindTwoRulesPerFamily() throws {
        let json = """
            {"mtu": 1380,
             "ipv4": {"addresses": ["10.77.0.2/32"], "includedRoutes": ["0.0.0.0/0"]},
             "ipv6": {"addresses": ["fd77::2/128"], "includedRoutes": ["::/0"]}}
            """
        XCTAssertEqual(
            try plan(json),
            """
            ip link set dev cvt0 mtu 1380
            ip -4 address add 10.77.0.2/32 dev cvt0
            ip -6 address add fd77::2/128 dev cvt0
            ip link set dev cvt0 up
            ip -4 route add 0.0.0.0/0 dev cvt0 table 40003 proto 156
            ip -4 rule add table main suppress_prefixlength 0 priority 32700 proto 156
            ip -4 rule add not fwmark 0x9c43 table 40003 priority 32701 proto 156
            ip -6 route add ::/0 dev cvt0 table 40003 proto 156
            ip -6 rule add table main suppress_prefixlength 0 priority 32700 proto 156
            ip -6 rule add not fwmark 0x9c43 table 40003 priority 32701 proto 156
            # undo
            ip -6 rule del not fwmark 0x9c43 table 40003 priority 32701 proto 156
            ip -6 rule del table main suppress_prefixlength 0 priority 32700 proto 156
            ip -6 route del ::/0 dev cvt0 table 40003 proto 156
            ip -4 rule del not fwmark 0x9c43 table 40003 priority 32701 proto 156
            ip -4 rule del table main suppress_prefixlength 0 priority 32700 proto 156
            ip -4 route del 0.0.0.0/0 dev cvt0 table 40003 proto 156
            ip -6 address del fd77::2/128 dev cvt0
            ip -4 address del 10.77.0.2/32 dev cvt0
            """)
    }

    func testExcludedRoutesAreThrowRoutesInTheFullTunnelTable() throws {
        let json = """
            {"ipv4": {"addresses": ["10.77.0.2/32"], "includedRoutes": ["0.0.0.0/0", "10.99.0.0/24"],
                      "excludedRoutes": ["192.168.0.0/16", "203.0.113.7/32"]}}
            """
        XCTAssertEqual(
            try plan(json),
            """
            ip -4 address add 10.77.0.2/32 dev cvt0
            ip link set dev cvt0 up
            ip -4 route add 10.99.0.0/24 dev cvt0 proto 156
            ip -4 route add 0.0.0.0/0 dev cvt0 table 40003 proto 156
            ip -4 rule add table main suppress_prefixlength 0 priority 32700 proto 156
            ip -4 rule add not fwmark 0x9c43 table 40003 priority 32701 proto 156
            ip -4 route add throw 192.168.0.0/16 table 40003 scope link proto 156
            ip -4 route add throw 203.0.113.7/32 table 40003 scope link proto 156
            # undo
            ip -4 route del throw 203.0.113.7/32 table 40003 scope link proto 156
            ip -4 route del throw 192.168.0.0/16 table 40003 scope link proto 156
            ip -4 rule del not fwmark 0x9c43 table 40003 priority 32701 proto 156
            ip -4 rule del table main suppress_prefixlength 0 priority 32700 proto 156
            ip -4 route del 0.0.0.0/0 dev cvt0 table 40003 proto 156
            ip -4 route del 10.99.0.0/24 dev cvt0 proto 156
            ip -4 address del 10.77.0.2/32 dev cvt0
            """)
    }

    func testMTUOnlyAndNothingAtAllStillBringTheLinkUp() throws {
        XCTAssertEqual(
            try plan(#"{"mtu": 1280}"#),
            """
            ip link set dev cvt0 mtu 1280
            ip link set dev cvt0 up
            # undo
            """)
        XCTAssertEqual(try plan("{}"), "ip link set dev cvt0 up\n# undo")
    }

    func testDNSOfAFullTunnelRoutesEveryNameAndOfASplitTunnelOnlyItsDomains() throws {
        let full = """
            {"ipv4": {"addresses": ["10.77.0.2/32"], "includedRoutes": ["0.0.0.0/0"]},
             "dns": {"servers": ["10.77.0.53", "fd77::53"], "searchDomains": ["lab.example."]}}
            """
        XCTAssertEqual(
            try plan(full),
            """
            ip -4 address add 10.77.0.2/32 dev cvt0
            ip link set dev cvt0 up
            ip -4 route add 0.0.0.0/0 dev cvt0 table 40003 proto 156
            ip -4 rule add table main suppress_prefixlength 0 priority 32700 proto 156
            ip -4 rule add not fwmark 0x9c43 table 40003 priority 32701 proto 156
            resolvectl dns cvt0 10.77.0.53 fd77::53
            resolvectl domain cvt0 lab.example ~.
            resolvectl default-route cvt0 true
            # undo
            ip -4 rule del not fwmark 0x9c43 table 40003 priority 32701 proto 156
            ip -4 rule del table main suppress_prefixlength 0 priority 32700 proto 156
            ip -4 route del 0.0.0.0/0 dev cvt0 table 40003 proto 156
            ip -4 address del 10.77.0.2/32 dev cvt0
            """)
        let split = """
            {"ipv4": {"addresses": ["10.77.0.2/32"], "includedRoutes": ["10.99.0.0/24"]},
             "dns": {"servers": ["10.99.0.53"], "searchDomains": [], "matchDomains": ["corp.example", "99.10.in-addr.arpa"]}}
            """
        XCTAssertEqual(
            try plan(split),
            """
            ip -4 address add 10.77.0.2/32 dev cvt0
            ip link set dev cvt0 up
            ip -4 route add 10.99.0.0/24 dev cvt0 proto 156
            resolvectl dns cvt0 10.99.0.53
            resolvectl domain cvt0 ~corp.example ~99.10.in-addr.arpa
            resolvectl default-route cvt0 false
            # undo
            ip -4 route del 10.99.0.0/24 dev cvt0 proto 156
            ip -4 address del 10.77.0.2/32 dev cvt0
            """)
    }

    func testEachRefusedInputGetsItsTypedReason() throws {
        let v4 = #""addresses": ["10.77.0.2/32"]"#
        let table: [(json: String, refusal: String)] = [
            (
                #"{"ipv4": {\#(v4), "includedRoutes": ["10.99.0.1/24"]}}"#,
                #"ipv4.includedRoutes[0]: invalid_prefix (invalid IP prefix "10.99.0.1/24": hostBitsSet)"#
            ),
            (
                #"{"ipv4": {"addresses": ["10.77.0.300/24"]}}"#,
                #"ipv4.addresses[0]: invalid_address (invalid IP prefix "10.77.0.300": invalidAddress)"#
            ),
            (#"{"ipv4": {"addresses": ["fd77::2/64"]}}"#, "ipv4.addresses[0]: wrong_family (fd77::2/64 is not ipv4)"),
            (
                #"{"ipv6": {"addresses": ["fd77::2/64"], "includedRoutes": ["10.0.0.0/8"]}}"#,
                "ipv6.includedRoutes[0]: wrong_family (10.0.0.0/8 is not ipv6)"
            ),
            (
                #"{"ipv4": {"addresses": ["10.77.0.2/24", "10.77.0.3/24"]}}"#,
                "ipv4.addresses[1]: overlaps (10.77.0.3/24 overlaps an address listed before it)"
            ),
            (
                #"{"ipv4": {\#(v4), "includedRoutes": ["10.0.0.0/8", "10.99.0.0/24"]}}"#,
                "ipv4.includedRoutes[1]: overlaps (10.99.0.0/24 overlaps 10.0.0.0/8)"
            ),
            (
                #"{"ipv4": {\#(v4), "includedRoutes": ["0.0.0.0/0", "0.0.0.0/0"]}}"#,
                "ipv4.includedRoutes[1]: overlaps (0.0.0.0/0 is listed twice)"
            ),
            (
                #"{"ipv4": {\#(v4), "includedRoutes": ["0.0.0.0/0", "10.99.0.0/24"], "excludedRoutes": ["10.99.0.128/25"]}}"#,
                "ipv4.excludedRoutes[0]: overlaps (10.99.0.128/25 overlaps an included route)"
            ),
            (
                #"{"ipv4": {\#(v4), "includedRoutes": ["10.99.0.0/24"], "excludedRoutes": ["10.99.0.128/25"]}}"#,
                "ipv4.excludedRoutes: requires_full_tunnel (excluded routes carve out of a full tunnel; include 0.0.0.0/0 too)"
            ),
            (#"{"mtu": 67}"#, "mtu: mtu_out_of_range (67 is outside 68…65535)"),
            (#"{"mtu": 65536}"#, "mtu: mtu_out_of_range (65536 is outside 68…65535)"),
            (#"{"mtu": 1279, "ipv6": {"addresses": ["fd77::2/128"]}}"#, "mtu: mtu_too_small_for_ipv6 (IPv6 needs at least 1280)"),
            (
                #"{"ipv4": {"addresses": [\#((0...256).map { "\"10.0.\($0 / 256).\($0 % 256)/32\"" }.joined(separator: ", "))]}}"#,
                "ipv4.addresses: too_many (at most 256)"
            ),
            (
                #"{"dns": {"servers": ["dns.example"]}}"#,
                #"dns.servers: invalid_dns (invalid DNS servers "dns.example": not_an_ip_address)"#
            ),
            (#"{"dns": {"servers": []}}"#, #"dns.servers: invalid_dns (invalid DNS servers "": missing)"#),
            (
                #"{"dns": {"servers": ["10.0.0.53"], "searchDomains": ["bad domain"]}}"#,
                #"dns.searchDomains: invalid_dns (invalid DNS search_domains "bad domain": invalid_character)"#
            ),
            (
                #"{"dns": {"servers": ["10.0.0.53"], "matchDomains": ["-corp.example"]}}"#,
                #"dns.matchDomains: invalid_dns (invalid DNS match_domains "-corp.example": hyphen_at_label_edge)"#
            ),
        ]
        for (json, expected) in table {
            XCTAssertEqual(try refusal(json), expected, json)
        }
        // The one refusal that depends on the other sessions: one full tunnel at a time.
        XCTAssertEqual(
            try refusal(#"{"ipv6": {"addresses": ["fd77::2/128"], "includedRoutes": ["::/0"]}}"#, fullTunnelAvailable: false),
            "ipv6.includedRoutes: full_tunnel_in_use (another session already routes everything)")
        XCTAssertEqual(
            try refusal(#"{"ipv4": {\#(v4), "includedRoutes": ["10.99.0.0/24"]}}"#, fullTunnelAvailable: false), "accepted: 3 steps")
    }

    func testARefusalTravelsAsInvalidSettingsWithItsFieldAndReason() {
        let refused = InvalidTunnelSettings(field: "mtu", reason: .mtuOutOfRange, detail: "67 is outside 68…65535")
        XCTAssertEqual(refused.varlinkError.name, "io.culvert.Provider.InvalidSettings")
        XCTAssertEqual(
            refused.varlinkError.parameters,
            ["field": "mtu", "reason": "mtu_out_of_range", "description": "67 is outside 68…65535"])
    }
}
