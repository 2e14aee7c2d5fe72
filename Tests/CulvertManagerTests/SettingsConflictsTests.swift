// SettingsConflictsTests: the cross-session settings check — one test per refusal reason, and the
// cases that must keep working (disjoint sessions, full tunnels, a provider's own protected endpoint
// under its full tunnel). Pure values: no root, no kernel.

import CulvertSystem
import CulvertVarlink
import XCTest

@testable import CulvertManager

private func plan(_ json: String) throws -> TunnelSettingsPlan {
    try TunnelSettingsPlan(settings: try JSONParser.parse(Array(json.utf8)), interfaceIndex: 7, fullTunnelAvailable: true)
}

private func ip(_ text: String) throws -> IPAddress { try IPAddress(text) }

/// A lab-like underlay: eth0 192.168.1.10/24 with gateway 192.168.1.1, and 2001:db8:1::10/64.
private func underlay() throws -> UnderlayView {
    UnderlayView(
        connectedPrefixes: [try IPPrefix("192.168.1.0/24"), try IPPrefix("2001:db8:1::/64")],
        gateways: [try ip("192.168.1.1"), try ip("2001:db8:1::1")])
}

/// Another session: 10.99.1.1/24, a route to 10.50.0.0/16, its peer 203.0.113.7.
private func other() throws -> SessionFootprint {
    SessionFootprint(
        name: "victim", addresses: [try InterfaceAddress("10.99.1.1/24")], routes: [try IPPrefix("10.50.0.0/16")],
        protectedEndpoints: [try ip("203.0.113.7")])
}

/// "field: reason (detail)" of the refusal, or "accepted".
private func verdict(_ json: String, own: [IPAddress] = [], others: [SessionFootprint]? = nil) throws -> String {
    let checked = try plan(json)
    let others = try others ?? [other()]
    let underlay = try underlay()
    do throws(InvalidTunnelSettings) {
        try SettingsConflicts.check(checked, ownEndpoints: own, others: others, underlay: underlay)
        return "accepted"
    } catch {
        return "\(error.field): \(error.reason.rawValue)"
    }
}

final class SettingsConflictsTests: XCTestCase {
    func testReservedTableParses() {
        XCTAssertEqual(ReservedPrefixes.table.count, 8)
        XCTAssertEqual(ReservedPrefixes.table.map(\.prefix.description).first, "0.0.0.0/8")
    }

    func testDisjointSessionsBothWork() throws {
        XCTAssertEqual(try verdict(#"{"ipv4": {"addresses": ["10.99.2.1/24"], "includedRoutes": ["10.51.0.0/16"]}}"#), "accepted")
    }

    func testOverlappingAnotherSessionsAddressOrRoute() throws {
        XCTAssertEqual(
            try verdict(#"{"ipv4": {"addresses": ["10.99.1.9/32"]}}"#), "ipv4.addresses[0]: conflicts_with_session")
        XCTAssertEqual(
            try verdict(#"{"ipv4": {"addresses": ["10.98.0.1/24"], "includedRoutes": ["10.99.0.0/16"]}}"#),
            "ipv4.includedRoutes[0]: conflicts_with_session")
        XCTAssertEqual(
            try verdict(#"{"ipv4": {"addresses": ["10.98.0.1/24"], "includedRoutes": ["10.50.3.0/24"]}}"#),
            "ipv4.includedRoutes[0]: conflicts_with_session")
    }

    func testRouteToAnotherSessionsEndpointCaptures() throws {
        XCTAssertEqual(
            try verdict(#"{"ipv4": {"addresses": ["10.98.0.1/24"], "includedRoutes": ["203.0.113.0/24"]}}"#),
            "ipv4.includedRoutes[0]: captures_underlay")
    }

    func testSplitDefaultCapturesEndpoints() throws {
        // 0.0.0.0/1 touches 0/8 and 127/8 (reserved); 192.0.0.0/3 holds the gateway and the peer.
        XCTAssertEqual(
            try verdict(#"{"ipv4": {"addresses": ["10.98.0.1/24"], "includedRoutes": ["0.0.0.0/1"]}}"#),
            "ipv4.includedRoutes[0]: reserved_prefix")
        XCTAssertEqual(
            try verdict(#"{"ipv4": {"addresses": ["10.98.0.1/24"], "includedRoutes": ["192.0.0.0/3"]}}"#),
            "ipv4.includedRoutes[0]: captures_underlay")
    }

    func testOwnEndpointOutsideAFullTunnel() throws {
        // A route (not the default) through its own TUN to its own peer would loop.
        XCTAssertEqual(
            try verdict(
                #"{"ipv4": {"addresses": ["10.98.0.1/24"], "includedRoutes": ["198.51.100.0/24"]}}"#, own: [try ip("198.51.100.9")]),
            "ipv4.includedRoutes[0]: captures_underlay")
    }

    func testUnderlayPrefixAndGateway() throws {
        XCTAssertEqual(
            try verdict(#"{"ipv4": {"addresses": ["192.168.1.77/32"]}}"#), "ipv4.addresses[0]: captures_underlay")
        XCTAssertEqual(
            try verdict(#"{"ipv4": {"addresses": ["10.98.0.1/24"], "includedRoutes": ["192.168.0.0/16"]}}"#),
            "ipv4.includedRoutes[0]: captures_underlay")
        XCTAssertEqual(
            try verdict(#"{"ipv6": {"addresses": ["fd00::1/64"], "includedRoutes": ["2001:db8:1:0:8000::/65"]}}"#),
            "ipv6.includedRoutes[0]: captures_underlay")
        // An address whose network would swallow the underlay, as a connected route.
        XCTAssertEqual(try verdict(#"{"ipv4": {"addresses": ["192.168.0.1/16"]}}"#), "ipv4.addresses[0]: captures_underlay")
    }

    func testReservedRanges() throws {
        for (json, field) in [
            (#"{"ipv4": {"addresses": ["127.0.0.2/32"]}}"#, "ipv4.addresses[0]"),
            (#"{"ipv4": {"addresses": ["10.98.0.1/24"], "includedRoutes": ["169.254.0.0/16"]}}"#, "ipv4.includedRoutes[0]"),
            (#"{"ipv4": {"addresses": ["10.98.0.1/24"], "includedRoutes": ["239.1.0.0/16"]}}"#, "ipv4.includedRoutes[0]"),
            (#"{"ipv4": {"addresses": ["10.98.0.1/24"], "includedRoutes": ["255.255.255.255/32"]}}"#, "ipv4.includedRoutes[0]"),
            (#"{"ipv4": {"addresses": ["0.1.2.3/32"]}}"#, "ipv4.addresses[0]"),
            (#"{"ipv6": {"addresses": ["::1/128"]}}"#, "ipv6.addresses[0]"),
            (#"{"ipv6": {"addresses": ["fd00::1/64"], "includedRoutes": ["fe80::/64"]}}"#, "ipv6.includedRoutes[0]"),
            (#"{"ipv6": {"addresses": ["fd00::1/64"], "includedRoutes": ["ff02::/16"]}}"#, "ipv6.includedRoutes[0]"),
        ] {
            XCTAssertEqual(try verdict(json), "\(field): reserved_prefix", json)
        }
    }

    func testFullTunnelKeepsWorkingWithItsOwnEndpoint() throws {
        // The default routes go through policy routing: neither the own peer, another session's
        // peer, the gateway nor the underlay is captured by them.
        let full =
            #"{"ipv4": {"addresses": ["10.98.0.1/24"], "includedRoutes": ["0.0.0.0/0"]}, "#
            + #""ipv6": {"addresses": ["fd00::1/64"], "includedRoutes": ["::/0"]}}"#
        XCTAssertEqual(try verdict(full, own: [try ip("192.168.1.50"), try ip("2001:db8:1::50")]), "accepted")
        // An excluded route may name anything: it hands the lookup back to the main table.
        XCTAssertEqual(
            try verdict(
                #"{"ipv4": {"addresses": ["10.98.0.1/24"], "includedRoutes": ["0.0.0.0/0"], "excludedRoutes": ["192.168.1.0/24"]}}"#),
            "accepted")
    }

    func testAnotherSessionsFullTunnelDoesNotBlockSplitRoutes() throws {
        let fullOther = SessionFootprint(
            name: "full", addresses: [try InterfaceAddress("10.97.0.1/24")], routes: [.defaultRoute(.ipv4)],
            protectedEndpoints: [try ip("198.51.100.1")])
        XCTAssertEqual(
            try verdict(#"{"ipv4": {"addresses": ["10.98.0.1/24"], "includedRoutes": ["10.96.0.0/16"]}}"#, others: [fullOther]),
            "accepted")
    }

    func testUnderlayViewLeavesTunnelsOut() throws {
        let view = UnderlayView(
            addresses: [
                LinkAddress(interfaceIndex: 2, address: try InterfaceAddress("192.168.1.10/24")),
                LinkAddress(interfaceIndex: 7, address: try InterfaceAddress("10.98.0.1/24")),
            ],
            gatewayRoutes: [
                GatewayRoute(interfaceIndex: 2, gateway: try ip("192.168.1.1")),
                GatewayRoute(interfaceIndex: 7, gateway: try ip("10.98.0.2")),
            ],
            tunnels: [7])
        XCTAssertEqual(view.connectedPrefixes, [try IPPrefix("192.168.1.0/24")])
        XCTAssertEqual(view.gateways, [try ip("192.168.1.1")])
    }
}
