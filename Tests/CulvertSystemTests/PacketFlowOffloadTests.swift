// PacketFlowOffloadTests: the provider SDK's PacketFlow on a real TUN created with IFF_VNET_HDR, as
// culvertd creates it for a bundle that declares `tun-offload` (root, a private network namespace
// per test). A relay thread plays the provider: it reads through a PacketFlow.Channel, checks every
// packet it is handed, reflects it back into the kernel (the third octet of both addresses flipped,
// which keeps every checksum) and writes it through the same channel. A local TCP connection then
// crosses the TUN twice per packet: super-packets are split on read and segments coalesced on write.

import CulvertSystem
import Foundation
import Synchronization
import XCTest

@testable import CulvertProvider

#if canImport(Glibc)
    import Glibc
#endif

/// Addresses: both local ends on the TUN; 10.99.1.0/24 is routed into it and reflected to 10.99.0.0/24
/// (IPv6: fd99:1::/64 to fd99::/64, the fourth byte flipped).
private let clientAddress: [UInt8] = [10, 99, 0, 1]
private let serverAddress: [UInt8] = [10, 99, 0, 2]
private let clientAddress6: [UInt8] = [0xfd, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
private let serverAddress6: [UInt8] = [0xfd, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]
private let reflectedServerAddress6: [UInt8] = [0xfd, 0x99, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]
/// Where the client connects: the server's address as seen across the reflection.
private let reflectedServerAddress: [UInt8] = [10, 99, 1, 2]
private let serverPort: UInt16 = 5_201
/// Bytes sent across the TCP connection.
private let transferBytes = 8 << 20
/// Bound on the whole transfer.
private let transferTimeout: Duration = .seconds(60)
/// The TUN's MTU (the kernel's default): no packet handed to the provider may be longer.
private let tunMTU = 1_500

/// The stream repeats with this period (a prime, so it never lines up with segment sizes).
private let streamPeriod = 65_521

/// The byte at `offset` of the transferred stream.
private func streamByte(_ offset: Int) -> UInt8 {
    let phase = offset % streamPeriod
    return UInt8(truncatingIfNeeded: phase &* 31 &+ (phase >> 8))
}

/// The provider side: reads, checks, reflects and writes packets through one channel until stopped.
final class ReflectingRelay: @unchecked Sendable {  // `problems`/`counts` behind `lock`; the rest is immutable or atomic
    private let flow: PacketFlow
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var problems: [String] = []
    private var segments = 0
    private var segments6 = 0
    private var longest = 0
    private var channelCounters = OffloadCounters()

    init(flow: PacketFlow) { self.flow = flow }

    func start() {
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.start()
    }

    /// Stops the thread and waits (bounded) for it; returns what it saw.
    func stop() -> (problems: [String], segments: Int, segments6: Int, longest: Int, counters: OffloadCounters) {
        stopped.store(true, ordering: .releasing)
        _ = finished.wait(timeout: .now() + .seconds(5))
        return lock.withLock { (problems, segments, segments6, longest, channelCounters) }
    }

    private func record(_ problem: String) { lock.withLock { if problems.count < 20 { problems.append(problem) } } }

    private func run() {
        var channel = flow.makeChannel()
        var input = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: 2_048)
        var output = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: 2_048)
        while !stopped.load(ordering: .acquiring) {
            do {
                input.removeAll()
                _ = try channel.readPackets(into: &input, timeout: .milliseconds(100))
                output.removeAll()
                for packet in input {
                    var bytes = Array(packet)
                    // Only IPv4 TCP between the test's addresses; a new link's IPv6 chatter is ignored.
                    // Only TCP between the test's addresses; a new link's IPv6 chatter (ICMPv6) is ignored.
                    let isV4 = bytes.count >= 40 && bytes[0] == 0x45 && bytes[9] == 6 && Array(bytes[12..<14]) == [10, 99]
                    let isV6 = bytes.count >= 60 && bytes[0] >> 4 == 6 && bytes[6] == 6 && Array(bytes[8..<10]) == [0xfd, 0x99]
                    guard isV4 || isV6 else { continue }
                    let problems = checksumProblems(bytes)
                    if !problems.isEmpty { record("segment of \(bytes.count) bytes: \(problems)") }
                    if bytes.count > tunMTU { record("segment of \(bytes.count) bytes exceeds the MTU") }
                    lock.withLock {
                        segments += 1
                        if isV6 { segments6 += 1 }
                        longest = max(longest, bytes.count)
                    }
                    // Source 10.99.0.x ↔ 10.99.1.x (fd99:0:: ↔ fd99:1::), destination likewise: one address
                    // word goes up by what the other goes down, so the sum, and every checksum, is unchanged.
                    bytes[isV4 ? 14 : 11] ^= 1
                    bytes[isV4 ? 18 : 27] ^= 1
                    try output.append(bytes)
                }
                if !output.isEmpty { try channel.writePackets(output) }
            } catch {
                record("relay: \(error)")
            }
        }
        let counters = channel.counters
        lock.withLock { channelCounters = counters }
    }
}

final class PacketFlowOffloadTests: XCTestCase {
    func testAPlainTunIsReadAndWrittenAsBefore() {
        withPrivateNetworkNamespace { _ in
            let tun = try TunDevice.create(name: "culvplain0")
            defer { tun.descriptor.close() }
            let flow = PacketFlow(descriptor: tun.descriptor)
            try require(!flow.isOffloading, "a TUN without IFF_VNET_HDR was taken for an offloading one")
            try require(flow.offloads.isEmpty, "offloads \(flow.offloads) on a plain TUN")
            var channel = flow.makeChannel()
            var batch = PacketBatch(capacity: 4, slotSize: 2_048)
            // Link down: nothing to read, and a channel on a plain TUN reads as the flow does.
            try require(try channel.readAvailablePackets(into: &batch) == 0, "a packet from a TUN that is down")
        }
    }

    func testTheOffloadsInForceAreOnlyThoseTheKernelAccepted() throws {
        withPrivateNetworkNamespace { _ in
            let tun = try TunDevice.create(name: "culvfeat0", options: .virtioNetHeader)
            defer { tun.descriptor.close() }
            try require(try tun.descriptor.tunHasVirtioHeader(), "TUNGETIFF lost IFF_VNET_HDR")
            let some = tun.descriptor.enableTunOffloads([.checksum, .tcpV4])
            try require(some == [.checksum, .tcpV4], "asked checksum+TSO4, got \(some.rawValue)")
            let withoutChecksum = tun.descriptor.enableTunOffloads([.tcpV4, .tcpV6])
            try require(withoutChecksum.isEmpty, "TSO without checksum offload: \(withoutChecksum.rawValue)")
        }
        // Not a TUN: TUNGETIFF fails, and TUNSETOFFLOAD's first refusal (not EINVAL) stops the sequence.
        let socket = try DatagramSocket.open(.ipv4)
        defer { socket.close() }
        XCTAssertThrowsError(try socket.descriptor.tunHasVirtioHeader())
        XCTAssertEqual(socket.descriptor.enableTunOffloads(), [])
        XCTAssertFalse(PacketFlow(descriptor: socket.descriptor).isOffloading)
    }

    func testAPausedOffloadingFlowHandsOutNothingUntilResumed() {
        withPrivateNetworkNamespace { namespace in
            let tun = try TunDevice.create(name: "culvpause0", options: .virtioNetHeader)
            defer { tun.descriptor.close() }
            try tun.descriptor.setVirtioHeaderSize(VirtioNetHeader.size)
            let flow = PacketFlow(descriptor: tun.descriptor)
            try namespace.run("ip link set culvpause0 addrgenmode none")
            try namespace.run("ip addr add 10.99.0.1/32 dev culvpause0")
            try namespace.run("ip link set culvpause0 up")
            try namespace.run("ip route add 10.99.1.0/24 dev culvpause0")
            let socket = try DatagramSocket.open(.ipv4)
            defer { socket.close() }
            try socket.connect(to: IPEndpoint("10.99.1.2:7400"))
            var channel = flow.makeChannel()
            var batch = PacketBatch(capacity: 8, slotSize: 2_048)
            flow.setPaused(true)
            _ = try socket.send([UInt8](repeating: 9, count: 100))
            try require(try tun.descriptor.waitReadable(timeoutMilliseconds: 5_000), "the datagram never reached the TUN")
            try require(try channel.readPackets(into: &batch, timeout: .milliseconds(10)) == 0, "read while paused")
            try require(try flow.readPackets(into: &batch, timeout: .milliseconds(10)) == 0, "read while paused")
            flow.setPaused(false)
            // The flow's own (shared, locked) reader this time; the channel is covered by the TCP test.
            try require(try flow.readPackets(into: &batch, timeout: .seconds(5)) == 1, "nothing read after resuming")
            try require(batch[0].count == 128 && checksumProblems(Array(batch[0])).isEmpty, "the packet came out wrong")
            try require(flow.counters.segmentsProduced == 1, "flow counters: \(flow.counters)")
            try require(channel.counters.segmentsProduced == 0, "the channel read too: \(channel.counters)")
        }
    }

    func testTCPCrossesAnOffloadingPacketFlowSplitAndCoalesced() {
        withPrivateNetworkNamespace { namespace in
            let tun = try TunDevice.create(name: "culvflow0", options: .virtioNetHeader)
            defer { tun.descriptor.close() }
            try tun.descriptor.setVirtioHeaderSize(VirtioNetHeader.size)
            let flow = PacketFlow(descriptor: tun.descriptor)
            try require(flow.isOffloading, "TUNGETIFF did not report IFF_VNET_HDR")
            try require(
                flow.offloads.isSuperset(of: [.checksum, .tcpV4, .tcpV6]), "the kernel accepted only \(flow.offloads.rawValue)")
            try namespace.run("ip addr add 10.99.0.1/32 dev culvflow0")
            try namespace.run("ip addr add 10.99.0.2/32 dev culvflow0")
            try namespace.run("ip link set culvflow0 up")
            try namespace.run("ip route add 10.99.1.0/24 dev culvflow0")
            try namespace.run("ip addr add fd99::1/128 dev culvflow0 nodad")
            try namespace.run("ip addr add fd99::2/128 dev culvflow0 nodad")
            try namespace.run("ip route add fd99:1::/64 dev culvflow0")
            let relay = ReflectingRelay(flow: flow)
            relay.start()
            let received4: Int
            let received6: Int
            do {
                received4 = try Self.transferThroughTun(ipv6: false)
                received6 = try Self.transferThroughTun(ipv6: true)
            } catch {
                _ = relay.stop()
                throw error
            }
            let seen = relay.stop()
            try require(seen.problems.isEmpty, "the provider was handed bad packets: \(seen.problems)")
            try require(received4 == transferBytes, "IPv4: received \(received4) of \(transferBytes) bytes")
            try require(received6 == transferBytes, "IPv6: received \(received6) of \(transferBytes) bytes")
            try require(seen.segments6 > 0, "no IPv6 segment was handed over")
            try require(seen.longest <= tunMTU, "a packet of \(seen.longest) bytes")
            try require(seen.counters.superPacketsSplit > 0, "no super-packet was read: \(seen.counters)")
            try require(seen.counters.superPacketsCoalesced > 0, "no super-packet was written: \(seen.counters)")
            try require(seen.counters.totalDropped == 0, "drops: \(seen.counters)")
            print(
                "PacketFlow TCP: \(seen.segments) segments (\(seen.segments6) IPv6), \(seen.counters.superPacketsSplit) super-packets read, "
                    + "\(seen.counters.superPacketsCoalesced) written (\(seen.counters.packetsCoalesced) packets merged)")
        }
    }

    /// Connects client → server across the reflection, sends `transferBytes` and checks each byte
    /// as it arrives. Returns how many arrived in order and intact.
    private static func transferThroughTun(ipv6: Bool) throws -> Int {
        let (clientAt, serverAt, reflected) =
            ipv6 ? (clientAddress6, serverAddress6, reflectedServerAddress6) : (clientAddress, serverAddress, reflectedServerAddress)
        let listener = try tcpSocket(ipv6: ipv6)
        defer { close(listener) }
        var on: Int32 = 1
        _ = setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        try require(withSocketAddress(serverAt, port: serverPort) { bind(listener, $0, $1) } == 0, "bind: errno \(errno)")
        try require(listen(listener, 1) == 0, "listen: errno \(errno)")
        let client = try tcpSocket(ipv6: ipv6)
        defer { close(client) }
        try require(withSocketAddress(clientAt, port: 0) { bind(client, $0, $1) } == 0, "bind client: errno \(errno)")
        let rc = withSocketAddress(reflected, port: serverPort) { connect(client, $0, $1) }
        try require(rc == 0 || errno == EINPROGRESS, "connect: errno \(errno)")
        let deadline = ContinuousClock.now + transferTimeout
        var server: Int32 = -1
        defer { if server >= 0 { close(server) } }
        var sent = 0
        var received = 0
        let pattern = (0..<(2 * streamPeriod)).map(streamByte)
        var inbox = [UInt8](repeating: 0, count: 256 * 1_024)
        while received < transferBytes {  // bounded by the deadline
            try require(ContinuousClock.now < deadline, "transfer stalled at \(received) of \(transferBytes) bytes")
            var fds = [
                pollfd(fd: server >= 0 ? server : listener, events: Int16(POLLIN), revents: 0),
                pollfd(fd: client, events: Int16(sent < transferBytes ? POLLOUT : 0), revents: 0),
            ]
            _ = poll(&fds, 2, 100)
            if server < 0 {
                server = accept(listener, nil, nil)
                if server >= 0 { _ = fcntl(server, F_SETFL, O_NONBLOCK) }
            } else {
                let n = read(server, &inbox, inbox.count)
                if n > 0 {
                    for index in 0..<n where inbox[index] != streamByte(received + index) {
                        throw KernelTestFailure(description: "byte \(received + index) arrived as \(inbox[index])")
                    }
                    received += n
                } else if n == 0 {
                    break
                }
            }
            if sent < transferBytes {
                let count = min(streamPeriod, transferBytes - sent)
                let phase = sent % streamPeriod
                let n = pattern.withUnsafeBytes { write(client, $0.baseAddress! + phase, count) }  // force unwrap: non-empty
                if n > 0 { sent += n }
            }
        }
        return received
    }

    /// Calls `body` with a 4- or 16-byte `address` and `port` as a sockaddr.
    private static func withSocketAddress<R>(_ address: [UInt8], port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        guard address.count == 16 else { return withAddress(address, port: port, body) }
        var storage = sockaddr_in6()
        storage.sin6_family = sa_family_t(AF_INET6)
        storage.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &storage.sin6_addr) { $0.copyBytes(from: address) }
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
    }

    /// A TCP socket: non-blocking, close-on-exec.
    private static func tcpSocket(ipv6: Bool) throws -> Int32 {
        let fd = socket(
            ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try require(fd >= 0, "socket: errno \(errno)")
        return fd
    }
}
