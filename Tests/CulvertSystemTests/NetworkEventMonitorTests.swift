// Real-kernel tests of NetworkEventMonitor. Every test runs on a dedicated thread that has unshared
// its own network namespace, so the links and addresses it changes (and the events it sees) are
// never the host's.

import CulvertSystem
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// How long a namespaced test body may run before the test gives up on it.
/// How long to wait for one expected event.
private let eventTimeout: Duration = .seconds(5)
/// The most `waitReadable` + `readEvents` rounds spent on one expected event.
private let maximumReadRounds = 200
/// The name of the test TUN device (inside the private namespace only).
private let tunName = "culvmon0"

/// A monitor and the events it reported that no expectation has consumed yet.
private final class EventReader {
    let monitor: NetworkEventMonitor
    private var pending: [NetworkEvent] = []

    init() throws { monitor = try NetworkEventMonitor() }

    /// The first event, in order, that `matches`; everything before it is dropped. Waits at most
    /// `eventTimeout`; nil (and a test failure naming `what`) if none came.
    func next(
        _ what: String, file: StaticString = #filePath, line: UInt = #line, matching matches: (NetworkEvent) -> Bool
    ) throws -> NetworkEvent? {
        var seen: [NetworkEvent] = []
        let clock = ContinuousClock()
        let deadline = clock.now + eventTimeout
        for _ in 0..<maximumReadRounds {  // bounded in rounds and by the deadline
            if let index = pending.firstIndex(where: matches) {
                let found = pending[index]
                seen += pending[...index]
                pending.removeFirst(index + 1)
                return found
            }
            seen += pending
            pending = []
            let left = deadline - clock.now
            guard left > .zero else { break }
            _ = try Descriptor.waitReadable([monitor.descriptor], timeout: left)
            pending = try monitor.readEvents()
        }
        XCTFail("no \(what) within \(eventTimeout); saw: \(seen.map(\.description))", file: file, line: line)
        return nil
    }

    /// The next link event for `interfaceIndex` that `matches`.
    func link(
        _ what: String, _ interfaceIndex: Int32, file: StaticString = #filePath, line: UInt = #line,
        matching matches: (LinkEvent) -> Bool
    ) throws -> LinkEvent? {
        let found = try next(what, file: file, line: line) { event in
            guard case .link(let link) = event else { return false }
            return link.interfaceIndex == interfaceIndex && matches(link)
        }
        guard case .link(let link) = found else { return nil }
        return link
    }
}

final class NetworkEventMonitorTests: XCTestCase {
    func testIdleMonitorReturnsNothingWithoutBlocking() {
        withPrivateNetworkNamespace { _ in
            let monitor = try NetworkEventMonitor()
            let flags = fcntl(monitor.descriptor.rawValue, F_GETFL)
            XCTAssertEqual(flags & O_NONBLOCK, O_NONBLOCK, "non-blocking")
            XCTAssertEqual(fcntl(monitor.descriptor.rawValue, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC, "close-on-exec")
            let clock = ContinuousClock()
            let started = clock.now
            XCTAssertEqual(try monitor.readEvents(), [])
            XCTAssertEqual(try monitor.readEvents(), [])
            XCTAssertLessThan(clock.now - started, .seconds(1))
            XCTAssertTrue(try Descriptor.waitReadable([monitor.descriptor], timeout: .milliseconds(50)).isEmpty)
        }
    }

    func testLinkUpDownMTUAndDeletionAreReported() {
        withPrivateNetworkNamespace { _ in
            let reader = try EventReader()
            let socket = try NetlinkRouteSocket()
            let tun = try TunDevice.create(name: tunName)
            var open = true
            defer { if open { tun.descriptor.close() } }
            let index = tun.interfaceIndex

            let created = try reader.link("creation", index) { $0.kind == .newOrChanged }
            XCTAssertEqual(created?.name, tunName)
            XCTAssertEqual(created?.isUp, false)

            try socket.setLinkUp(true, interfaceIndex: index)
            // The operational state may follow in a later message (the kernel's linkwatch): wait for it.
            let up = try reader.link("link up, running, with carrier", index) { $0.isUp && $0.isRunning && $0.hasCarrier }
            XCTAssertEqual(up?.kind, .newOrChanged)
            XCTAssertEqual(up?.name, tunName)

            try socket.setMTU(1400, interfaceIndex: index)
            let mtu = try reader.link("MTU 1400", index) { $0.mtu == 1400 }
            XCTAssertEqual(mtu?.isUp, true)

            try socket.setLinkUp(false, interfaceIndex: index)
            let down = try reader.link("link down", index) { !$0.isUp }
            XCTAssertEqual(down?.kind, .newOrChanged)
            XCTAssertEqual(down?.isRunning, false)
            XCTAssertEqual(down?.mtu, 1400)

            // Closing the only descriptor of a non-persistent TUN device deletes the interface.
            tun.descriptor.close()
            open = false
            let deleted = try reader.link("deletion", index) { $0.kind == .deleted }
            XCTAssertEqual(deleted?.name, tunName)
            XCTAssertEqual(
                deleted.map { NetworkEvent.link($0).description }, "deleted link \(index) \(tunName) down mtu 1400")
        }
    }

    func testAddressesAddedAndRemovedAreReportedWithTheirPrefixLength() {
        withPrivateNetworkNamespace { _ in
            let reader = try EventReader()
            let socket = try NetlinkRouteSocket()
            let tun = try TunDevice.create(name: tunName)
            defer { tun.descriptor.close() }
            let index = tun.interfaceIndex
            try socket.setLinkUp(true, interfaceIndex: index)

            let ipv4 = try InterfaceAddress("10.77.0.2/24")
            try socket.addAddress(ipv4, interfaceIndex: index)
            let added = NetworkEvent.address(AddressEvent(kind: .added, interfaceIndex: index, address: ipv4))
            XCTAssertEqual(try reader.next("\(ipv4) added") { $0 == added }, added)

            try socket.removeAddress(ipv4, interfaceIndex: index)
            let removed = NetworkEvent.address(AddressEvent(kind: .removed, interfaceIndex: index, address: ipv4))
            XCTAssertEqual(try reader.next("\(ipv4) removed") { $0 == removed }, removed)
            XCTAssertEqual(removed.description, "removed 10.77.0.2/24 on \(index)")

            let ipv6 = try InterfaceAddress("fd77::2/64")
            try socket.addAddress(ipv6, interfaceIndex: index)
            let addedIPv6 = NetworkEvent.address(AddressEvent(kind: .added, interfaceIndex: index, address: ipv6))
            XCTAssertEqual(try reader.next("\(ipv6) added") { $0 == addedIPv6 }, addedIPv6)
        }
    }

    func testDroppedNotificationsAreReportedAsOverrunAndTheMonitorKeepsWorking() {
        withPrivateNetworkNamespace { _ in
            let reader = try EventReader()
            // The smallest receive queue the kernel allows (it raises the value to its minimum), so a
            // burst of changes that is not read overflows it.
            var size: Int32 = 1
            let rc = setsockopt(
                reader.monitor.descriptor.rawValue, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            XCTAssertEqual(rc, 0, "SO_RCVBUF: errno \(errno)")
            let socket = try NetlinkRouteSocket()
            let tun = try TunDevice.create(name: tunName)
            defer { tun.descriptor.close() }
            let index = tun.interfaceIndex
            for step in 0..<64 {  // bounded burst: each MTU change is one RTM_NEWLINK
                try socket.setMTU(1280 + step, interfaceIndex: index)
            }
            XCTAssertEqual(try reader.next("overrun") { $0 == .overrun }, .overrun)

            try socket.setMTU(1500, interfaceIndex: index)
            XCTAssertNotNil(try reader.link("MTU 1500 after the overrun", index) { $0.mtu == 1500 })
        }
    }

    func testDescriptionsReadLikeIPMonitorLines() throws {
        let link = LinkEvent(
            kind: .newOrChanged, interfaceIndex: 7, name: "cvt0", isUp: true, isRunning: true, hasCarrier: true, mtu: 1400)
        XCTAssertEqual(NetworkEvent.link(link).description, "link 7 cvt0 up running carrier mtu 1400")
        let address = AddressEvent(kind: .added, interfaceIndex: 7, address: try InterfaceAddress("fd77::2/64"))
        XCTAssertEqual(NetworkEvent.address(address).description, "added fd77::2/64 on 7")
        XCTAssertEqual(NetworkEvent.overrun.description, "overrun")
    }
}
