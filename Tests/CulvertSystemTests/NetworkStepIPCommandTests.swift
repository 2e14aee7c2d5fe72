// NetworkStep.ipCommand against the kernel: the rendered `ip` lines, run in a private namespace,
// must leave exactly the state the steps leave through netlink; the undo lines likewise restore
// what was there. This is what lets the golden tests of CulvertManagerTests stay text.

import CulvertSystem
import XCTest

/// The name of the test TUN device (inside the private namespace only).
private let tunName = "culvc0"

final class NetworkStepIPCommandTests: XCTestCase {
    func testRenderedCommandsLeaveTheSameKernelStateAsTheSteps() {
        withPrivateNetworkNamespace { namespace in
            let tun = try TunDevice.create(name: tunName)
            defer { tun.descriptor.close() }
            let index = tun.interfaceIndex
            let name = { (asked: Int32) in asked == index ? tunName : nil }
            let socket = try NetlinkRouteSocket()
            let steps: [NetworkStep] =
                [
                    .setMTU(1380, interfaceIndex: index),
                    .addAddress(try InterfaceAddress("10.77.0.2/24"), interfaceIndex: index),
                    .addAddress(try InterfaceAddress("fd77::2/64"), interfaceIndex: index),
                    .setLinkUp(true, interfaceIndex: index),
                    .addRoute(NetworkRoute(destination: try IPPrefix("10.99.0.0/24"), interfaceIndex: index)),
                    .addRoute(NetworkRoute(destination: try IPPrefix("10.98.0.0/24"), interfaceIndex: index, metric: 50)),
                    .addRoute(NetworkRoute(destination: try IPPrefix("fd99::/48"), interfaceIndex: index)),
                ] + NetworkStep.fullTunnel(family: .ipv4, interfaceIndex: index)
                + NetworkStep.fullTunnel(family: .ipv6, interfaceIndex: index) + [
                    .addRoute(
                        NetworkRoute(
                            destination: try IPPrefix("192.168.0.0/16"), interfaceIndex: 0, table: CulvertNetlink.fullTunnelTable,
                            kind: .throw)),
                    .addRoute(
                        NetworkRoute(
                            destination: try IPPrefix("fd00:dead::/32"), interfaceIndex: 0, table: CulvertNetlink.fullTunnelTable,
                            kind: .throw)),
                ]
            let before = try namespace.snapshot()

            let applied = try NetworkTransaction(steps: steps).apply(on: socket)
            let throughNetlink = try namespace.snapshot()
            // The undo steps read the link's previous MTU and state, so they are known only now.
            XCTAssertEqual(
                applied.undoSteps.map { $0.ipCommand(interfaceName: name) }.joined(separator: "\n"),
                """
                ip -6 route del throw fd00:dead::/32 table 40003 scope link proto 156
                ip -4 route del throw 192.168.0.0/16 table 40003 scope link proto 156
                ip -6 rule del not fwmark 0x9c43 table 40003 priority 32701 proto 156
                ip -6 rule del table main suppress_prefixlength 0 priority 32700 proto 156
                ip -6 route del ::/0 dev culvc0 table 40003 proto 156
                ip -4 rule del not fwmark 0x9c43 table 40003 priority 32701 proto 156
                ip -4 rule del table main suppress_prefixlength 0 priority 32700 proto 156
                ip -4 route del 0.0.0.0/0 dev culvc0 table 40003 proto 156
                ip -6 route del fd99::/48 dev culvc0 proto 156
                ip -4 route del 10.98.0.0/24 dev culvc0 metric 50 proto 156
                ip -4 route del 10.99.0.0/24 dev culvc0 proto 156
                ip link set dev culvc0 down
                ip -6 address del fd77::2/64 dev culvc0
                ip -4 address del 10.77.0.2/24 dev culvc0
                ip link set dev culvc0 mtu 1500
                """)
            XCTAssertEqual(applied.revert(on: socket), [])
            XCTAssertEqual(try namespace.snapshot(), before)

            for step in steps { try namespace.run(step.ipCommand(interfaceName: name)) }
            XCTAssertEqual(try namespace.snapshot(), throughNetlink, "the ip lines make what the steps make")
            for step in applied.undoSteps {
                do { try namespace.run(step.ipCommand(interfaceName: name)) } catch {
                    // As the transaction's own undo: setting the link down flushed its IPv6 address.
                    guard case .removeAddress(let address, _) = step, address.family == .ipv6 else { throw error }
                }
            }
            XCTAssertEqual(try namespace.snapshot(), before, "the undo lines take it all away again")
        }
    }

    func testLinksWithoutANameAreRenderedByIndex() throws {
        XCTAssertEqual(NetworkStep.setMTU(1420, interfaceIndex: 7).ipCommand, "ip link set dev if7 mtu 1420")
        XCTAssertEqual(
            NetworkStep.removeRule(PolicyRule(family: .ipv6, priority: 10, table: 7, selector: nil, protocolID: 3)).ipCommand,
            "ip -6 rule del table 7 priority 10 proto 3")
        XCTAssertEqual(
            NetworkStep.addRoute(NetworkRoute(destination: try IPPrefix("fd00::/8"), interfaceIndex: 3, table: 255)).ipCommand,
            "ip -6 route add fd00::/8 dev if3 table local proto 156")
    }
}
