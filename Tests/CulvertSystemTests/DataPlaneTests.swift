// Real-kernel tests of the data-plane primitives: PacketBatch, UDP batches (sendmmsg/recvmmsg),
// SO_MARK and SO_DOMAIN, TUN packet I/O, readiness waits and the eventfd wake-up. Every test that
// sends a packet does so on a dedicated thread that has unshared its own network namespace, to
// addresses that exist only there; the host's network is never touched.

import CulvertSystem
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Bound on a test body running on its own thread.
private let threadBodyTimeoutSeconds = 60.0
/// Bound on waiting for datagrams or packets that were just sent.
private let arrivalTimeout: Duration = .seconds(5)
/// One readiness wait inside an arrival loop.
private let pollSlice: Duration = .milliseconds(100)
/// The TUN device's name (inside the private namespace only).
private let tunName = "culvdp0"
/// The TUN's address and a peer "behind" it, routed through it (private namespace only).
private let tunAddress = "10.200.0.1"
private let tunPeer = "10.200.0.2"
/// The full-tunnel firewall mark culvertd sets on a provider's socket.
private let protectMark: UInt32 = 0x9c43

/// A failure from a worker thread, handed to the test's thread.
private final class ThreadOutcome: @unchecked Sendable {  // written by the worker before `done` is signalled, read after
    var failure: String?
    let done = DispatchSemaphore(value: 0)
}

private struct TestFailure: Error, CustomStringConvertible {
    var description: String
}

/// Throws a `TestFailure` (reported by the runner) unless `condition` holds.
private func expect(_ condition: Bool, _ message: @autoclosure () -> String, line: UInt = #line) throws {
    guard condition else { throw TestFailure(description: "line \(line): \(message())") }
}

/// Runs `body` on a new thread (bounded wait) and reports what it threw as a test failure.
private func onDedicatedThread(file: StaticString = #filePath, line: UInt = #line, _ body: @escaping @Sendable () throws -> Void) {
    let outcome = ThreadOutcome()
    let thread = Thread {
        defer { outcome.done.signal() }
        do { try body() } catch { outcome.failure = "\(error)" }
    }
    thread.start()
    guard outcome.done.wait(timeout: .now() + threadBodyTimeoutSeconds) == .success else {
        XCTFail("test body did not finish", file: file, line: line)
        return
    }
    if let failure = outcome.failure { XCTFail(failure, file: file, line: line) }
}

/// Runs `body` on a new thread that first moves into a network namespace of its own with `lo` up.
private func inPrivateNetworkNamespace(file: StaticString = #filePath, line: UInt = #line, _ body: @escaping @Sendable () throws -> Void) {
    onDedicatedThread(file: file, line: line) {
        try NetworkNamespace.enterNewNamespaceOnCurrentThread()
        let own = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self/ns/net")
        let host = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(getpid())/ns/net")
        guard own != host else { throw TestFailure(description: "still in the host's network namespace") }
        let netlink = try NetlinkRouteSocket()
        guard let loopback = try netlink.interfaceIndex(named: "lo") else { throw TestFailure(description: "no lo") }
        try netlink.setLinkUp(true, interfaceIndex: loopback)
        try body()
    }
}

/// A payload of `size` bytes that differs for every `seed`.
private func payload(size: Int, seed: Int) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ 1) }
}

/// Receives into `batch` until it holds `expected` packets or `arrivalTimeout` passes (non-blocking socket).
private func receiveUntil(
    _ expected: Int, on socket: DatagramSocket, into batch: inout PacketBatch, senders: inout [IPEndpoint]
) throws {
    let deadline = ContinuousClock.now + arrivalTimeout
    while batch.count < expected && ContinuousClock.now < deadline {  // bounded by the deadline
        guard try !Descriptor.waitReadable([socket.descriptor], timeout: pollSlice).isEmpty else { continue }
        do {
            _ = try socket.receiveBatch(into: &batch, senders: &senders)
        } catch {
            // A `catch where` here crashes the 6.3.1 compiler ("Found ownership error") in this loop.
            guard error.isWouldBlock else { throw error }
        }
    }
}

/// An IPv4 header's checksum: the ones' complement of the ones' complement sum of its 16-bit words.
private func ipv4HeaderChecksum(_ header: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    for index in stride(from: 0, to: header.count, by: 2) {
        sum += UInt32(header[index]) << 8 | UInt32(header[index + 1])
    }
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    return ~UInt16(sum)
}

/// An IPv4/UDP packet (no options, UDP checksum 0 = none, allowed over IPv4).
private func ipv4UDPPacket(from source: IPEndpoint, to destination: IPEndpoint, payload: [UInt8], identification: UInt16) -> [UInt8] {
    let total = 20 + 8 + payload.count
    var header: [UInt8] = [
        0x45, 0x00, UInt8(total >> 8), UInt8(total & 0xFF),
        UInt8(identification >> 8), UInt8(identification & 0xFF), 0x40, 0x00,  // don't fragment
        64, 17, 0, 0,  // TTL, UDP, checksum placeholder
    ]
    header += source.address.bytes + destination.address.bytes
    let checksum = ipv4HeaderChecksum(header)
    header[10] = UInt8(checksum >> 8)
    header[11] = UInt8(checksum & 0xFF)
    let udpLength = 8 + payload.count
    let udp: [UInt8] = [
        UInt8(source.port >> 8), UInt8(source.port & 0xFF), UInt8(destination.port >> 8), UInt8(destination.port & 0xFF),
        UInt8(udpLength >> 8), UInt8(udpLength & 0xFF), 0, 0,
    ]
    return header + udp + payload
}

final class DataPlaneTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(geteuid() == 0, "network namespaces, TUN devices and SO_MARK need root")
    }

    // MARK: PacketBatch

    func testPacketBatchAppendsIteratesAndRefusesWhatDoesNotFit() throws {
        var batch = PacketBatch(capacity: 3, slotSize: 10)
        XCTAssertEqual(batch.capacity, 3)
        XCTAssertEqual(batch.slotSize, 10)
        XCTAssertTrue(batch.isEmpty)
        try batch.append([1, 2, 3])
        try batch.append([UInt8]())
        try batch.append(Array(repeating: 9, count: 10))
        XCTAssertTrue(batch.isFull)
        XCTAssertEqual(batch.map { Array($0) }, [[1, 2, 3], [], Array(repeating: 9, count: 10)])
        XCTAssertThrowsError(try batch.append([4])) { XCTAssertEqual($0 as? PacketBatchError, .full(capacity: 3)) }
        batch.removeAll()
        XCTAssertEqual(batch.count, 0)
        XCTAssertThrowsError(try batch.append(Array(repeating: 0, count: 11))) {
            XCTAssertEqual($0 as? PacketBatchError, .packetTooLarge(size: 11, slotSize: 10))
        }
        XCTAssertEqual(batch.count, 0)

        let clamped = PacketBatch(capacity: 1000, slotSize: 1_000_000)
        XCTAssertEqual(clamped.capacity, PacketBatch.maximumPacketCount)
        XCTAssertEqual(clamped.slotSize, PacketBatch.maximumPacketSize)
        XCTAssertEqual(PacketBatch.maximumPacketCount, 64)
        XCTAssertEqual(PacketBatch.maximumPacketSize, 65_535)
    }

    // MARK: UDP batches

    func testUDPBatchRoundTripIPv4() { udpBatchRoundTrip(loopback: "127.0.0.1") }

    func testUDPBatchRoundTripIPv6() { udpBatchRoundTrip(loopback: "::1") }

    /// 64 datagrams of sizes from 0 to 9000 bytes in one sendmmsg, received with recvmmsg, exact
    /// contents and sender; both sockets on `loopback` inside a private namespace.
    private func udpBatchRoundTrip(loopback: String, file: StaticString = #filePath, line: UInt = #line) {
        inPrivateNetworkNamespace(file: file, line: line) {
            let address = try IPAddress(loopback)
            let receiver = try DatagramSocket.open(address.family, nonblocking: true)
            defer { receiver.close() }
            try receiver.bind(to: IPEndpoint(address: address, port: 0))
            let receiverEndpoint = try receiver.localEndpoint()
            try expect(receiverEndpoint.address == address && receiverEndpoint.port != 0, "bound to \(receiverEndpoint)")

            let sender = try DatagramSocket.open(address.family)
            defer { sender.close() }
            try sender.bind(to: IPEndpoint(address: address, port: 0))
            try sender.connect(to: receiverEndpoint)
            let peer = try sender.remoteEndpoint()
            try expect(peer == receiverEndpoint, "connected to \(peer)")

            // Sizes vary from 0 to 9000 bytes; their sum stays well inside the default receive buffer.
            let sizes = (0..<PacketBatch.maximumPacketCount).map { $0 % 16 == 15 ? 9000 : ($0 * 211) % 1300 }
            var outgoing = PacketBatch(slotSize: 9000)
            for (index, size) in sizes.enumerated() { try outgoing.append(payload(size: size, seed: index)) }
            try expect(outgoing.isFull, "outgoing batch holds \(outgoing.count)")
            let sent = try sender.sendBatch(outgoing)
            try expect(sent == sizes.count, "sendmmsg sent \(sent) of \(sizes.count)")

            var incoming = PacketBatch()
            var senders: [IPEndpoint] = []
            try receiveUntil(sizes.count, on: receiver, into: &incoming, senders: &senders)
            try expect(incoming.count == sizes.count, "received \(incoming.count) of \(sizes.count)")
            for (index, packet) in incoming.enumerated() {
                try expect(Array(packet) == payload(size: sizes[index], seed: index), "datagram \(index) differs (\(packet.count) bytes)")
            }
            let senderEndpoint = try sender.localEndpoint()
            try expect(senders == Array(repeating: senderEndpoint, count: sizes.count), "senders \(Set(senders))")
        }
    }

    /// Sending from an offset, receiving into a batch with few free slots, and a datagram too long
    /// for the slots being discarded while the others stay in order.
    func testPartialBatches() {
        inPrivateNetworkNamespace {
            let loopback = try IPAddress("127.0.0.1")
            let receiver = try DatagramSocket.open(.ipv4, nonblocking: true)
            defer { receiver.close() }
            try receiver.bind(to: IPEndpoint(address: loopback, port: 0))
            let destination = try receiver.localEndpoint()
            let sender = try DatagramSocket.open(.ipv4)
            defer { sender.close() }

            var outgoing = PacketBatch(capacity: 8, slotSize: 300)
            for index in 0..<5 { try outgoing.append(payload(size: 10 + index, seed: index)) }
            try expect(try sender.sendBatch(outgoing, from: 3, to: destination) == 2, "sent from index 3")
            try expect(try sender.sendBatch(outgoing, from: 5, to: destination) == 0, "nothing past the end")
            try expect(try sender.sendBatch(outgoing, to: destination) == 5, "sent the whole batch")

            // Seven queued (indices 3, 4, 0…4); a batch with two free slots takes two, then the rest.
            var incoming = PacketBatch(capacity: 4, slotSize: 300)
            try incoming.append([0xEE, 0xEE])
            try incoming.append([0xDD])
            var senders: [IPEndpoint] = []
            try receiveUntil(4, on: receiver, into: &incoming, senders: &senders)
            try expect(incoming.count == 4, "partial receive holds \(incoming.count)")
            try expect(Array(incoming[0]) == [0xEE, 0xEE] && Array(incoming[1]) == [0xDD], "existing packets kept")
            try expect(Array(incoming[2]) == payload(size: 13, seed: 3) && Array(incoming[3]) == payload(size: 14, seed: 4), "order")
            try expect(senders.count == 2, "one sender per new packet, got \(senders.count)")
            XCTAssertThrowsError(try receiver.receiveBatch(into: &incoming)) { XCTAssertEqual(($0 as? SystemError)?.errno, ENOBUFS) }

            var rest = PacketBatch(capacity: 8, slotSize: 300)
            try receiveUntil(5, on: receiver, into: &rest, senders: &senders)
            try expect(rest.map { Array($0) } == (0..<5).map { payload(size: 10 + $0, seed: $0) }, "the remaining five, in order")

            // Datagrams longer than the slots are discarded; the ones around them close up, in order.
            // Sizes 50 and 60 (exactly a slot) fit, 299 and 61 do not, 5 fits.
            var mixed = PacketBatch(capacity: 5, slotSize: 300)
            for size in [50, 60, 299, 61, 5] { try mixed.append(payload(size: size, seed: size)) }
            try expect(try sender.sendBatch(mixed, to: destination) == 5, "five sent")
            var small = PacketBatch(capacity: 8, slotSize: 60)
            senders.removeAll()
            try receiveUntil(3, on: receiver, into: &small, senders: &senders)
            try expect(senders.count == small.count, "one sender per kept datagram")
            try expect(
                small.map { Array($0) } == [payload(size: 50, seed: 50), payload(size: 60, seed: 60), payload(size: 5, seed: 5)],
                "after discarding: \(small.map(\.count))")
        }
    }

    /// Single datagrams: the largest IPv4 UDP payload, a sender, EMSGSIZE for a short buffer, EAGAIN
    /// when nothing is queued, and the family check on endpoints.
    func testSingleDatagrams() {
        inPrivateNetworkNamespace {
            let loopback = try IPAddress("127.0.0.1")
            let receiver = try DatagramSocket.open(.ipv4)
            defer { receiver.close() }
            try receiver.bind(to: IPEndpoint(address: loopback, port: 0))
            let destination = try receiver.localEndpoint()
            let sender = try DatagramSocket.open(.ipv4)
            defer { sender.close() }
            try sender.bind(to: IPEndpoint(address: loopback, port: 0))

            let largest = payload(size: 65_507, seed: 3)
            try expect(try sender.send(largest, to: destination) == largest.count, "largest datagram sent")
            let received = try receiver.receive()
            try expect(received.bytes == largest, "largest datagram differs (\(received.bytes.count) bytes)")
            try expect(received.sender == (try sender.localEndpoint()), "sender \(String(describing: received.sender))")

            _ = try sender.send(payload(size: 100, seed: 4), to: destination)
            do {
                _ = try receiver.receive(maximumBytes: 10)
                throw TestFailure(description: "a 100-byte datagram fit in 10 bytes")
            } catch let error as SystemError {
                try expect(error.errno == EMSGSIZE, "\(error)")
            }
            try receiver.setNonblocking(true)
            do {
                _ = try receiver.receive()
                throw TestFailure(description: "the discarded datagram was received")
            } catch let error as SystemError {
                try expect(error.isWouldBlock, "\(error)")
            }
            do {
                try sender.connect(to: IPEndpoint("[::1]:9"))
                throw TestFailure(description: "an IPv6 endpoint was accepted on an IPv4 socket")
            } catch let error as SystemError {
                try expect(error.errno == EAFNOSUPPORT, "\(error)")
            }
        }
    }

    // MARK: SO_MARK and SO_DOMAIN

    /// culvertd's "protect": the mark is set through a descriptor received over SCM_RIGHTS and read
    /// back through the provider's own.
    func testFirewallMarkRoundTripThroughPassedDescriptor() {
        inPrivateNetworkNamespace {
            for family in IPFamily.allCases {
                let socket = try DatagramSocket.open(family)
                defer { socket.close() }
                try expect(try socket.firewallMark() == 0, "fresh socket is unmarked")
                let (provider, daemon) = try DescriptorPassing.socketPair()
                defer {
                    provider.close()
                    daemon.close()
                }
                _ = try provider.send([1], passing: [socket.descriptor])
                let message = try daemon.receive(maximumBytes: 1, maximumDescriptors: 1)
                guard let received = message.descriptors.first else { throw TestFailure(description: "no descriptor arrived") }
                defer { received.close() }
                try expect(try DatagramSocket.socketFamily(of: received) == family, "received socket family")
                try received.setFirewallMark(protectMark)
                try expect(try received.firewallMark() == protectMark, "mark through the received descriptor")
                try expect(try socket.firewallMark() == protectMark, "mark through the provider's descriptor")
                try socket.setFirewallMark(0)
                try expect(try received.firewallMark() == 0, "mark cleared")
            }
        }
    }

    func testSocketFamilyRefusesEverythingButIPSockets() throws {
        let (unixA, unixB) = try DescriptorPassing.socketPair()
        defer {
            unixA.close()
            unixB.close()
        }
        XCTAssertNil(try DatagramSocket.socketFamily(of: unixA))
        let wake = try WakeEvent()
        defer { wake.close() }
        XCTAssertNil(try DatagramSocket.socketFamily(of: wake.descriptor), "an eventfd is not a socket")
        var pipeEnds: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&pipeEnds), 0)
        defer { pipeEnds.forEach { close($0) } }
        XCTAssertNil(try Descriptor(rawValue: pipeEnds[0]).ipSocketFamily(), "a pipe is not a socket")
        let v4 = try DatagramSocket.open(.ipv4)
        defer { v4.close() }
        let v6 = try DatagramSocket.open(.ipv6)
        defer { v6.close() }
        XCTAssertEqual(try DatagramSocket.socketFamily(of: v4.descriptor), .ipv4)
        XCTAssertEqual(try v6.descriptor.ipSocketFamily(), .ipv6)
    }

    // MARK: IPEndpoint

    func testEndpointParsing() throws {
        let good: [(String, String, UInt16, String)] = [
            ("10.1.2.3:51820", "10.1.2.3", 51820, "10.1.2.3:51820"),
            ("[fd00::1]:51820", "fd00::1", 51820, "[fd00::1]:51820"),
            ("0.0.0.0:0", "0.0.0.0", 0, "0.0.0.0:0"),
            ("[::]:65535", "::", 65535, "[::]:65535"),
            ("[FD00:0::0001]:00080", "fd00::1", 80, "[fd00::1]:80"),
        ]
        for (text, address, port, canonical) in good {
            let endpoint = try IPEndpoint(text)
            XCTAssertEqual(endpoint.address, try IPAddress(address), text)
            XCTAssertEqual(endpoint.port, port, text)
            XCTAssertEqual(endpoint.description, canonical, text)
            XCTAssertEqual(try IPEndpoint(endpoint.description), endpoint, text)
        }
        let bad: [(String, IPEndpointError.Reason)] = [
            ("10.1.2.3", .missingPort),
            ("10.1.2.3:", .missingPort),
            ("[fd00::1]", .missingPort),
            ("[fd00::1]:", .missingPort),
            ("10.1.2.3:65536", .invalidPort),
            ("10.1.2.3:-1", .invalidPort),
            ("10.1.2.3:+80", .invalidPort),
            ("10.1.2.3: 80", .invalidPort),
            ("10.1.2.3:123456", .invalidPort),
            ("10.1.2.3:http", .invalidPort),
            ("10.1.2.256:80", .invalidAddress),
            ("example.com:80", .invalidAddress),
            (":80", .invalidAddress),
            ("[fe80::1%eth0]:80", .invalidAddress),
            ("[]:80", .invalidAddress),
            ("fd00::1:80", .invalidBrackets),
            ("[10.1.2.3]:80", .invalidBrackets),
            ("[fd00::1:80", .invalidBrackets),
            ("[fd00::1]80", .invalidBrackets),
            (String(repeating: "1", count: 65) + ":80", .tooLong),
        ]
        for (text, reason) in bad {
            XCTAssertThrowsError(try IPEndpoint(text), text) { error in
                XCTAssertEqual(error as? IPEndpointError, IPEndpointError(text: text, reason: reason), text)
            }
        }
    }

    // MARK: TUN

    /// A datagram routed into the TUN comes out of its descriptor as an IPv4 packet; a crafted IPv4
    /// packet written to the descriptor arrives at a local socket.
    func testTunPacketsBothWays() {
        inPrivateNetworkNamespace {
            let tun = try TunDevice.create(name: tunName)
            defer { tun.descriptor.close() }
            try tun.descriptor.setNonblocking(true)
            let netlink = try NetlinkRouteSocket()
            try netlink.addAddress(try InterfaceAddress("\(tunAddress)/24"), interfaceIndex: tun.interfaceIndex)
            try netlink.setLinkUp(true, interfaceIndex: tun.interfaceIndex)

            var packets = PacketBatch(slotSize: 2048)

            // Out: a datagram to the peer behind the TUN.
            let local = try DatagramSocket.open(.ipv4)
            defer { local.close() }
            try local.bind(to: IPEndpoint("\(tunAddress):0"))
            let localEndpoint = try local.localEndpoint()
            let peer = try IPEndpoint("\(tunPeer):9999")
            let outbound = payload(size: 123, seed: 9)
            try expect(try local.send(outbound, to: peer) == outbound.count, "sent to the peer")
            var found: ArraySlice<UInt8>?
            let deadline = ContinuousClock.now + arrivalTimeout
            while found == nil && ContinuousClock.now < deadline {  // bounded by the deadline
                guard try !Descriptor.waitReadable([tun.descriptor], timeout: pollSlice).isEmpty else { continue }
                packets.removeAll()
                _ = try tun.descriptor.readPackets(into: &packets)
                // Skip what else the kernel sends on a new link (IPv6 router solicitations, MLD).
                found = packets.first { $0.count >= 28 && $0[$0.startIndex] >> 4 == 4 && $0[$0.startIndex + 9] == 17 }
            }
            guard let packet = found.map({ Array($0) }) else { throw TestFailure(description: "no IPv4/UDP packet came out of the TUN") }
            try expect(packet[0] == 0x45, "IPv4, no options: \(packet[0])")
            try expect(Array(packet[12..<16]) == localEndpoint.address.bytes, "source \(packet[12..<16])")
            try expect(Array(packet[16..<20]) == peer.address.bytes, "destination \(packet[16..<20])")
            try expect(ipv4HeaderChecksum(Array(packet[0..<20])) == 0, "the kernel's header checksum verifies")
            try expect(Int(packet[22]) << 8 | Int(packet[23]) == 9999, "destination port")
            try expect(Int(packet[20]) << 8 | Int(packet[21]) == Int(localEndpoint.port), "source port")
            try expect(Array(packet[28...]) == outbound, "payload")

            // In: three crafted packets from the peer to the local socket, in one writePackets.
            let inbound = (0..<3).map { payload(size: 40 + $0 * 500, seed: 20 + $0) }
            var crafted = PacketBatch(capacity: 3, slotSize: 2048)
            let peerSource = try IPEndpoint("\(tunPeer):7777")
            for (index, body) in inbound.enumerated() {
                try crafted.append(ipv4UDPPacket(from: peerSource, to: localEndpoint, payload: body, identification: UInt16(index + 1)))
            }
            try expect(try tun.descriptor.writePackets(crafted) == 3, "wrote three packets")
            try local.setNonblocking(true)
            var received = PacketBatch(capacity: 8, slotSize: 2048)
            var senders: [IPEndpoint] = []
            try receiveUntil(3, on: local, into: &received, senders: &senders)
            try expect(received.map { Array($0) } == inbound, "received \(received.map(\.count)) bytes")
            try expect(senders == Array(repeating: peerSource, count: 3), "senders \(senders)")
            try expect(try tun.descriptor.writePackets(crafted, from: 3) == 0, "nothing past the end")
        }
    }

    // MARK: Waiting and waking

    /// A thread blocked in a long wait returns promptly when the WakeEvent is signalled, and reports
    /// only the event as ready.
    func testWakeEventInterruptsABlockedWait() throws {
        let wake = try WakeEvent()
        defer { wake.close() }
        let (quiet, other) = try DescriptorPassing.socketPair()
        defer {
            quiet.close()
            other.close()
        }
        let result = WaitResult()
        let started = DispatchSemaphore(value: 0)
        let waiter = Thread {
            started.signal()
            let begin = ContinuousClock.now
            result.ready = try? Descriptor.waitReadable([quiet, wake.descriptor], timeout: .seconds(30))  // nil: the wait failed
            result.elapsed = ContinuousClock.now - begin
            result.done.signal()
        }
        waiter.start()
        started.wait()
        Thread.sleep(forTimeInterval: 0.2)  // let the waiter enter poll
        XCTAssertEqual(result.done.wait(timeout: .now()), .timedOut, "the wait returned before the signal")
        try wake.signal()
        try wake.signal()  // a second signal changes nothing
        guard result.done.wait(timeout: .now() + 5) == .success else {
            // Release the waiter through the other descriptor before the deferred closes pull its fds away.
            try other.sendAll([1])
            _ = result.done.wait(timeout: .now() + 5)
            XCTFail("the blocked wait did not return when the event was signalled")
            return
        }
        XCTAssertEqual(result.ready, ReadyDescriptors(mask: 0b10))
        XCTAssertLessThan(result.elapsed, .seconds(5))
        XCTAssertTrue(try wake.reset())
        XCTAssertFalse(try wake.reset())
        XCTAssertTrue(try Descriptor.waitReadable([quiet, wake.descriptor], timeout: .zero).isEmpty)
    }

    func testWaitReadableTimesOutAndReportsPositions() throws {
        let (a, b) = try DescriptorPassing.socketPair()
        defer {
            a.close()
            b.close()
        }
        let wake = try WakeEvent()
        defer { wake.close() }
        let begin = ContinuousClock.now
        XCTAssertTrue(try Descriptor.waitReadable([a, b, wake.descriptor], timeout: .milliseconds(50)).isEmpty)
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - begin, .milliseconds(45))
        try b.sendAll([1])
        try wake.signal()
        let ready = try Descriptor.waitReadable([a, b, wake.descriptor], timeout: .seconds(5))
        XCTAssertTrue(ready.contains(0))
        XCTAssertFalse(ready.contains(1))
        XCTAssertTrue(ready.contains(2))
        let tooMany = Array(repeating: a, count: ReadyDescriptors.maximumWatchedDescriptors + 1)
        XCTAssertThrowsError(try Descriptor.waitReadable(tooMany, timeout: .zero))
    }
}

/// What the waiter thread saw, handed to the test's thread.
private final class WaitResult: @unchecked Sendable {  // written by the waiter before `done` is signalled, read after
    var ready: ReadyDescriptors?
    var elapsed: Duration = .zero
    let done = DispatchSemaphore(value: 0)
}
