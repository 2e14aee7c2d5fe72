// Golden tests of TunnelSettingsPlan for a session whose kill switch is held: every route goes
// into the session's table T_k (KillSwitchRules), the addresses' networks too, excluded routes are
// throw routes there (they fall to `unreachable`), and no full-tunnel rule is added.

import CulvertSystem
import CulvertVarlink
import XCTest

@testable import CulvertManager

private let tunIndex: Int32 = 7
private let tunName = "cvt0"

private func plan(_ json: String, table: UInt32 = KillSwitchRules.table(slot: 0)) throws -> (String, TunnelSettingsPlan) {
    let settings = try JSONParser.parse(Array(json.utf8))
    let plan = try TunnelSettingsPlan(settings: settings, interfaceIndex: tunIndex, fullTunnelAvailable: true, killSwitchTable: table)
    try NetworkTransaction(steps: plan.steps).validate()
    return (plan.steps.map { $0.ipCommand { $0 == tunIndex ? tunName : nil } }.joined(separator: "\n"), plan)
}

final class TunnelSettingsPlanKillSwitchTests: XCTestCase {
    func testFullTunnelGoesIntoTheSessionTableWithoutRules() throws {
        let (lines, checked) = try plan(
            #"{"ipv4": {"addresses": ["10.77.0.1/24"], "includedRoutes": ["0.0.0.0/0"], "excludedRoutes": ["192.168.0.0/16"]},"#
                + #" "ipv6": {"addresses": ["fd77::1/64"], "includedRoutes": ["::/0"]}}"#)
        XCTAssertEqual(
            lines,
            """
            ip -4 address add 10.77.0.1/24 dev cvt0
            ip -6 address add fd77::1/64 dev cvt0
            ip link set dev cvt0 up
            ip -4 route add 0.0.0.0/0 dev cvt0 table 40016 proto 156
            ip -4 route add 10.77.0.0/24 dev cvt0 table 40016 proto 156
            ip -4 route add throw 192.168.0.0/16 table 40016 scope link proto 156
            ip -6 route add ::/0 dev cvt0 table 40016 proto 156
            ip -6 route add fd77::/64 dev cvt0 table 40016 proto 156
            """)
        XCTAssertTrue(checked.fullTunnel, "still one full tunnel at a time")
    }

    func testSplitTunnelRoutesOnlyWhatItIncludes() throws {
        let (lines, _) = try plan(
            #"{"ipv4": {"addresses": ["10.77.0.1/32", "10.78.0.1/24"], "includedRoutes": ["10.99.0.0/24", "10.78.0.0/24"]}}"#,
            table: KillSwitchRules.table(slot: 3))
        XCTAssertEqual(
            lines,
            """
            ip -4 address add 10.77.0.1/32 dev cvt0
            ip -4 address add 10.78.0.1/24 dev cvt0
            ip link set dev cvt0 up
            ip -4 route add 10.99.0.0/24 dev cvt0 table 40019 proto 156
            ip -4 route add 10.78.0.0/24 dev cvt0 table 40019 proto 156
            """)
    }
}
