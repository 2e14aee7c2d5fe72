// Real-kernel tests of TUN devices, netlink operations and NetworkTransaction. Every test that
// touches the network does so on a dedicated thread that has unshared its own network namespace
// (the host's is never touched), and checks the kernel's view with `ip -j` run inside that namespace.

import CulvertSystem
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The name of the test TUN device (inside the private namespace only).
private let tunName = "culvt0"

/// The settings of a full-tunnel profile on `tun`, as the issue's acceptance test describes them.
private func fullSettings(_ interfaceIndex: Int32) throws -> [NetworkStep] {
    [
        .setMTU(1380, interfaceIndex: interfaceIndex),
        .addAddress(try InterfaceAddress("10.77.0.2/32"), interfaceIndex: interfaceIndex),
        .addAddress(try InterfaceAddress("fd77::2/128"), interfaceIndex: interfaceIndex),
        .setLinkUp(true, interfaceIndex: interfaceIndex),
        .addRoute(NetworkRoute(destination: try IPPrefix("10.77.1.0/24"), interfaceIndex: interfaceIndex)),
        .addRoute(NetworkRoute(destination: try IPPrefix("fd77:1::/64"), interfaceIndex: interfaceIndex)),
    ] + NetworkStep.fullTunnel(family: .ipv4, interfaceIndex: interfaceIndex)
        + NetworkStep.fullTunnel(family: .ipv6, interfaceIndex: interfaceIndex)
}

/// "dst dev table" facts of `ip -j route` objects (`table` is absent for main).
private func routeFacts(_ routes: [[String: Any]]) -> Set<String> {
    Set(routes.map { "\($0["dst"] ?? "?") dev \($0["dev"] ?? "?") table \($0["table"] ?? "main")" })
}

/// "priority [not] [fwmark M] lookup T [suppress_prefixlen N]" facts of Culvert's `ip -j rule` objects.
private func ruleFacts(_ rules: [[String: Any]]) -> Set<String> {
    Set(
        rules.filter { $0["protocol"] as? String == "\(CulvertNetlink.routeProtocol)" }.map { rule in
            var fact = "\(rule["priority"] ?? "?")"
            if rule.keys.contains("not") { fact += " not" }
            if let mark = rule["fwmark"] { fact += " fwmark \(mark)" }
            fact += " lookup \(rule["table"] ?? "?")"
            if let length = rule["suppress_prefixlen"] { fact += " suppress_prefixlen \(length)" }
            return fact
        })
}

final class NetworkTransactionTests: XCTestCase {
    func testPrefixesParseAndInvalidOnesAreRefusedWithTypedReasons() throws {
        XCTAssertEqual(try IPPrefix("10.77.1.0/24").description, "10.77.1.0/24")
        XCTAssertEqual(try IPPrefix("fd77:1:0::/64").description, "fd77:1::/64")
        XCTAssertEqual(IPPrefix.defaultRoute(.ipv6).description, "::/0")
        XCTAssertEqual(try InterfaceAddress("10.77.0.2/24").network.description, "10.77.0.0/24")
        XCTAssertEqual(try InterfaceAddress("fd77::2").prefixLength, 128)
        let refused: [(String, IPPrefixError.Reason)] = [
            ("10.77.1.1/24", .hostBitsSet),
            ("fd77:1::1/64", .hostBitsSet),
            ("10.77.1.0/33", .lengthOutOfRange),
            ("fd77::/129", .lengthOutOfRange),
            ("10.77.1.0", .missingLength),
            ("10.77.1.0/", .invalidLength),
            ("10.77.1.0/-1", .invalidLength),
            ("10.77.1.0/+8", .invalidLength),
            ("10.77.1.0/2 4", .invalidLength),
            ("10.77.256.0/24", .invalidAddress),
            ("fd77:::1/64", .invalidAddress),
            ("", .invalidAddress),
            (String(repeating: "1", count: 100), .tooLong),
        ]
        for (text, reason) in refused {
            XCTAssertThrowsError(try IPPrefix(text), text) { error in
                XCTAssertEqual((error as? IPPrefixError)?.reason, reason, text)
            }
        }
        XCTAssertThrowsError(try InterfaceAddress("10.0.0.1/40")) { error in
            XCTAssertEqual((error as? IPPrefixError)?.reason, .lengthOutOfRange)
        }
    }

    func testTunDeviceHasTheKernelsNameIndexAndFlags() {
        withPrivateNetworkNamespace { namespace in
            let tun = try TunDevice.create(name: tunName, options: [.multiQueue])
            defer { tun.descriptor.close() }
            XCTAssertEqual(tun.name, tunName)
            XCTAssertEqual(try NetlinkRouteSocket().interfaceIndex(named: tunName), tun.interfaceIndex)
            XCTAssertEqual(fcntl(tun.descriptor.rawValue, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC, "close-on-exec")
            let link = try namespace.objects("-d", "link", "show", tunName).first ?? [:]
            XCTAssertEqual(link["ifindex"] as? Int, Int(tun.interfaceIndex))
            let info = (link["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any] ?? [:]
            XCTAssertEqual(info["type"] as? String, "tun")
            XCTAssertEqual(info["pi"] as? Bool, false, "IFF_NO_PI")
            XCTAssertEqual(info["multi_queue"] as? Bool, true)
            XCTAssertEqual(info["vnet_hdr"] as? Bool, false)
            XCTAssertEqual(info["persist"] as? Bool, false, "the interface lives only as long as its descriptor")

            // A second queue of a multi-queue device is the same interface with another descriptor.
            let secondQueue = try TunDevice.create(name: tunName, options: [.multiQueue])
            defer { secondQueue.descriptor.close() }
            XCTAssertEqual(secondQueue.interfaceIndex, tun.interfaceIndex)
            XCTAssertNotEqual(secondQueue.descriptor, tun.descriptor)

            let automatic = try TunDevice.create(options: [.virtioNetHeader])
            defer { automatic.descriptor.close() }
            XCTAssertTrue(automatic.name.hasPrefix("tun"), automatic.name)
            let automaticInfo = try namespace.objects("-d", "link", "show", automatic.name).first?["linkinfo"] as? [String: Any]
            XCTAssertEqual((automaticInfo?["info_data"] as? [String: Any])?["vnet_hdr"] as? Bool, true)
            XCTAssertNotEqual(automatic.interfaceIndex, tun.interfaceIndex)

            XCTAssertThrowsError(try TunDevice.create(name: String(repeating: "x", count: TunDevice.maximumNameLength + 1))) {
                XCTAssertEqual(($0 as? SystemError)?.errno, ENAMETOOLONG)
            }
        }
    }

    func testFullSettingsCreateTaggedObjectsAndRevertRestoresTheKernelsState() {
        withPrivateNetworkNamespace { namespace in
            let tun = try TunDevice.create(name: tunName)
            defer { tun.descriptor.close() }
            let socket = try NetlinkRouteSocket()
            let before = try namespace.snapshot()

            let applied = try NetworkTransaction(steps: try fullSettings(tun.interfaceIndex)).apply(on: socket)

            let link = try namespace.objects("addr", "show", "dev", tunName).first ?? [:]
            XCTAssertEqual(link["mtu"] as? Int, 1380)
            XCTAssertTrue((link["flags"] as? [String] ?? []).contains("UP"))
            let addresses = (link["addr_info"] as? [[String: Any]] ?? []).filter { $0["scope"] as? String == "global" }
            XCTAssertEqual(
                Set(addresses.map { "\($0["family"] ?? "?") \($0["local"] ?? "?")/\($0["prefixlen"] ?? "?")" }),
                ["inet 10.77.0.2/32", "inet6 fd77::2/128"])
            let table = "\(CulvertNetlink.fullTunnelTable)"
            let proto = "\(CulvertNetlink.routeProtocol)"
            XCTAssertEqual(
                routeFacts(try namespace.objects("-4", "route", "show", "table", "all", "proto", proto)),
                ["10.77.1.0/24 dev \(tunName) table main", "default dev \(tunName) table \(table)"])
            XCTAssertEqual(
                routeFacts(try namespace.objects("-6", "route", "show", "table", "all", "proto", proto)),
                ["fd77:1::/64 dev \(tunName) table main", "default dev \(tunName) table \(table)"])
            let expectedRules: Set<String> = [
                "\(CulvertNetlink.suppressRulePriority) lookup main suppress_prefixlen 0",
                "\(CulvertNetlink.fullTunnelRulePriority) not fwmark 0x9c43 lookup \(table)",
            ]
            XCTAssertEqual(ruleFacts(try namespace.objects("-4", "rule")), expectedRules)
            XCTAssertEqual(ruleFacts(try namespace.objects("-6", "rule")), expectedRules)

            // What a restarted daemon would find through libnl: exactly these, tagged as Culvert's.
            let routes = try socket.routes()
            XCTAssertEqual(routes.count, 4)
            XCTAssertTrue(routes.allSatisfy { $0.interfaceIndex == tun.interfaceIndex && $0.protocolID == CulvertNetlink.routeProtocol })
            XCTAssertEqual(
                Set(routes.map { "\($0.destination) \($0.table)" }),
                ["10.77.1.0/24 254", "fd77:1::/64 254", "0.0.0.0/0 \(table)", "::/0 \(table)"])
            let expectedPolicyRules = [IPFamily.ipv4, .ipv6].flatMap { family in
                NetworkStep.fullTunnel(family: family, interfaceIndex: tun.interfaceIndex).compactMap { step -> PolicyRule? in
                    if case .addRule(let rule) = step { return rule }
                    return nil
                }
            }
            XCTAssertEqual(Set(try socket.rules()), Set(expectedPolicyRules))
            let kernelRules = try socket.rules(protocolID: 2).map { "\($0.family.rawValue) \($0.priority) \($0.table)" }
            XCTAssertEqual(
                Set(kernelRules), ["ipv4 0 255", "ipv4 32766 254", "ipv4 32767 253", "ipv6 0 255", "ipv6 32766 254"],
                "the kernel's default rules, tagged proto kernel (2), are not Culvert's")

            // Counters are readable and agree with the kernel's own (nothing is written to the TUN).
            let counters = try socket.linkCounters(interfaceIndex: tun.interfaceIndex)
            let stats = (try namespace.objects("-s", "link", "show", tunName).first?["stats64"] as? [String: Any]) ?? [:]
            let received = stats["rx"] as? [String: Any] ?? [:]
            XCTAssertEqual(counters.receivedBytes, UInt64(received["bytes"] as? Int ?? -1))
            XCTAssertEqual(counters.receivedPackets, UInt64(received["packets"] as? Int ?? -1))
            let transmitted = stats["tx"] as? [String: Any] ?? [:]
            XCTAssertLessThanOrEqual(counters.transmittedPackets, UInt64(transmitted["packets"] as? Int ?? -1))

            XCTAssertEqual(applied.revert(on: socket), [])
            XCTAssertEqual(try namespace.snapshot(), before)
            XCTAssertEqual(try socket.routes(), [])
            XCTAssertEqual(try socket.rules(), [])
        }
    }

    func testARestartedDaemonFindsAndRemovesItsLeftovers() {
        withPrivateNetworkNamespace { namespace in
            let tun = try TunDevice.create(name: tunName)
            defer { tun.descriptor.close() }
            let before = try namespace.snapshot()
            do {
                // The daemon that applied these settings "crashes": its undo list is lost.
                let socket = try NetlinkRouteSocket()
                _ = try NetworkTransaction(steps: try fullSettings(tun.interfaceIndex)).apply(on: socket)
            }
            let socket = try NetlinkRouteSocket()
            let leftovers = try socket.routes().map { NetworkStep.removeRoute($0) } + socket.rules().map { NetworkStep.removeRule($0) }
            XCTAssertEqual(leftovers.count, 8)
            // Routes and rules first, then addresses and the link: what a reconciling daemon does.
            let cleanup =
                leftovers + [
                    .removeAddress(try InterfaceAddress("10.77.0.2/32"), interfaceIndex: tun.interfaceIndex),
                    .removeAddress(try InterfaceAddress("fd77::2/128"), interfaceIndex: tun.interfaceIndex),
                    .setMTU(1500, interfaceIndex: tun.interfaceIndex),
                    .setLinkUp(false, interfaceIndex: tun.interfaceIndex),
                ]
            _ = try NetworkTransaction(steps: cleanup).apply(on: socket)
            XCTAssertEqual(try socket.routes(), [])
            XCTAssertEqual(try socket.rules(), [])
            XCTAssertEqual(try namespace.snapshot(), before)
        }
    }

    func testInjectedFailureAtTheLastStepRollsEverythingBack() {
        withPrivateNetworkNamespace { namespace in
            let tun = try TunDevice.create(name: tunName)
            defer { tun.descriptor.close() }
            let socket = try NetlinkRouteSocket()
            let steps = try fullSettings(tun.interfaceIndex)
            let before = try namespace.snapshot()
            XCTAssertThrowsError(try NetworkTransaction(steps: steps).apply(on: socket, injectingFailureAt: steps.count - 1)) { error in
                XCTAssertEqual(
                    error as? NetworkTransactionError,
                    .stepFailed(index: steps.count - 1, step: steps[steps.count - 1], cause: .injected, rollbackFailures: []))
            }
            XCTAssertEqual(try namespace.snapshot(), before)
        }
    }

    func testKernelRefusalMidwayRollsEverythingBack() {
        withPrivateNetworkNamespace { namespace in
            let tun = try TunDevice.create(name: tunName)
            defer { tun.descriptor.close() }
            let socket = try NetlinkRouteSocket()
            var steps = try fullSettings(tun.interfaceIndex)
            // A link that does not exist in this namespace: the kernel refuses the route (ENODEV).
            let missing = NetworkRoute(destination: try IPPrefix("10.77.2.0/24"), interfaceIndex: 9999)
            steps.insert(.addRoute(missing), at: 6)
            let before = try namespace.snapshot()
            XCTAssertThrowsError(try NetworkTransaction(steps: steps).apply(on: socket)) { error in
                guard case .stepFailed(let index, _, .netlink, let rollbackFailures) = error as? NetworkTransactionError else {
                    return XCTFail("\(error)")
                }
                XCTAssertEqual(index, 6)
                XCTAssertEqual(rollbackFailures, [])
            }
            XCTAssertEqual(try namespace.snapshot(), before)
        }
    }

    func testInvalidSettingsAreRefusedBeforeAnythingIsApplied() {
        withPrivateNetworkNamespace { namespace in
            let tun = try TunDevice.create(name: tunName)
            defer { tun.descriptor.close() }
            let socket = try NetlinkRouteSocket()
            let index = tun.interfaceIndex
            let before = try namespace.snapshot()
            let valid = try fullSettings(index)
            let cases: [([NetworkStep], Int, NetworkStepProblem)] = [
                (valid + [.setMTU(70_000, interfaceIndex: index)], valid.count, .mtuOutOfRange),
                ([.setMTU(40, interfaceIndex: index)], 0, .mtuOutOfRange),
                (
                    [.addAddress(try InterfaceAddress("fd77::2/128"), interfaceIndex: index), .setMTU(1200, interfaceIndex: index)], 0,
                    .mtuTooSmallForIPv6
                ),
                (valid + [valid[1]], valid.count, .duplicateStep),
                (valid + [.setLinkUp(true, interfaceIndex: 0)], valid.count, .invalidInterfaceIndex),
                (
                    valid + [.addRule(PolicyRule(family: .ipv4, priority: 1, table: 7, selector: .suppressPrefixLength(33)))],
                    valid.count, .suppressLengthOutOfRange
                ),
                (
                    valid + [.addRoute(NetworkRoute(destination: .defaultRoute(.ipv4), interfaceIndex: index, table: 255))], valid.count,
                    .invalidTable
                ),
            ]
            for (steps, failing, problem) in cases {
                XCTAssertThrowsError(try NetworkTransaction(steps: steps).apply(on: socket)) { error in
                    XCTAssertEqual(error as? NetworkTransactionError, .invalidStep(index: failing, step: steps[failing], problem: problem))
                }
            }
            let tooMany = [NetworkStep](
                repeating: .setLinkUp(true, interfaceIndex: index), count: CulvertNetlink.maximumTransactionSteps + 1)
            XCTAssertThrowsError(try NetworkTransaction(steps: tooMany).apply(on: socket)) { error in
                XCTAssertEqual(error as? NetworkTransactionError, .tooManySteps(count: tooMany.count))
            }
            // Settings arriving as text fail while being parsed, before a transaction exists.
            XCTAssertThrowsError(try IPPrefix("10.77.1.1/24"))
            XCTAssertEqual(try namespace.snapshot(), before)
        }
    }
}
