// OffloadKernelTests: the offload engine against the kernel itself (root, private network namespace
// per test; the host's network is never touched). A TUN created with IFF_VNET_HDR and TSO enabled;
// the test plays the TCP peer behind it. Out: a local TCP client's stream comes out as super-packets,
// which split into segments that pass the independent checksum check and carry the bytes sent.
// In: segments coalesced into one super-packet and written to the TUN reach a local TCP socket whole.

import CulvertSystem
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The TUN (inside the namespace only), its address and the peer the test plays behind it.
let offloadTunName = "culvgso0"
let localAddress: [UInt8] = [10, 201, 0, 1]
let peerAddress: [UInt8] = [10, 201, 0, 2]
/// Bytes the local client sends through the TUN.
private let streamBytes = 256 * 1_024
/// How long a kernel exchange may take.
let exchangeTimeout: Duration = .seconds(10)
/// One poll while waiting.
let pollMilliseconds: Int32 = 100
/// The MSS the peer announces (a 1,500-byte MTU).
private let peerMSS = 1_460
/// Segments the peer coalesces into one super-packet, and their payload size.
private let inboundSegments = 30
private let inboundSegmentSize = 1_400

struct KernelTestFailure: Error, CustomStringConvertible {
    var description: String
}

func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    guard condition else { throw KernelTestFailure(description: message()) }
}

/// A TCP socket: non-blocking, close-on-exec, in the calling thread's namespace.
private func tcpSocket() throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    try require(fd >= 0, "socket: errno \(errno)")
    return fd
}

/// Calls `body` with `address:port` as a sockaddr.
func withAddress<R>(_ address: [UInt8], port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    var storage = sockaddr_in()
    storage.sin_family = sa_family_t(AF_INET)
    storage.sin_port = port.bigEndian
    withUnsafeMutableBytes(of: &storage.sin_addr) { $0.copyBytes(from: address) }
    return withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// The test's side of the TUN: reads virtio-framed packets, writes plain ones with a GSO_NONE header.
struct PeerSide {
    let tun: Descriptor
    var buffer = [UInt8](repeating: 0, count: OffloadSegmenter.maximumReadLength)

    /// The next TCP packet from the kernel to `port` (virtio header included), or nil at the deadline.
    mutating func nextTCP(toPort port: UInt16, deadline: ContinuousClock.Instant) throws -> [UInt8]? {
        try next(protocol: 6, toPort: port, deadline: deadline)
    }

    /// The next IPv4 packet of `proto` from the kernel to `port` (virtio header included), or nil at the deadline.
    mutating func next(protocol proto: UInt8, toPort port: UInt16, deadline: ContinuousClock.Instant) throws -> [UInt8]? {
        while ContinuousClock.now < deadline {  // bounded by the deadline
            guard try tun.waitReadable(timeoutMilliseconds: pollMilliseconds) else { continue }
            let tun = tun
            // nil for EAGAIN (another reader was first) or a read error: skipped, the deadline bounds the loop.
            let n = buffer.withUnsafeMutableBytes { bytes in try? tun.read(into: bytes) } ?? 0
            let ip = VirtioNetHeader.size
            // Skip what else a new link sends (IPv6 router solicitations, MLD): IPv4 `proto` to `port` only.
            guard n >= ip + 28, buffer[ip] == 0x45, buffer[ip + 9] == proto, readBE16(buffer, ip + 22) == Int(port) else { continue }
            return Array(buffer[0..<n])
        }
        return nil
    }

    /// Writes one plain packet with a GSO_NONE header.
    func write(_ packet: [UInt8]) throws {
        try tun.writeAll(VirtioNetHeader().encoded() + packet)
    }
}

/// The kernel's super-packet `read`, split into `segments`, merges back into the same IP packet with
/// the same offload description (hdr_len aside: kernels fill it differently; the merge writes the
/// header length, what virtio asks for).
private func expectRoundTrip(
    of read: [UInt8], header: VirtioNetHeader, segments: PacketBatch, coalescer: inout OffloadCoalescer
) throws {
    var output = PacketBatch(capacity: 1, slotSize: OffloadCoalescer.maximumSuperPacketLength)
    try require(coalescer.coalesce(segments, into: &output) == segments.count, "merged back whole")
    let merged = Array(output[0])
    let again = try merged.withUnsafeBytes { try VirtioNetHeader(parsing: $0) }
    try require(
        Array(merged[VirtioNetHeader.size...]) == Array(read[VirtioNetHeader.size...]), "merged IP packet differs from the kernel's")
    try require(
        again.gsoType == header.gsoType && again.gsoSize == header.gsoSize && again.checksumStart == header.checksumStart
            && again.checksumOffset == header.checksumOffset && again.needsChecksum && again.ecn == header.ecn,
        "merged header \(again), kernel's \(header)")
}

final class OffloadKernelTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(geteuid() == 0, "network namespaces and TUN devices need root")
    }

    /// A TUN with IFF_VNET_HDR and `offloads` (default: checksum + TSO), addressed and up.
    static func offloadTun(_ offloads: TunOffloads = [.checksum, .tcpV4, .tcpV6]) throws -> TunDevice {
        let tun = try TunDevice.create(name: offloadTunName, options: .virtioNetHeader)
        do {
            try tun.descriptor.setVirtioHeaderSize(VirtioNetHeader.size)
            try tun.descriptor.setTunOffloads(offloads)
            try tun.descriptor.setNonblocking(true)
            let netlink = try NetlinkRouteSocket()
            try netlink.addAddress(try InterfaceAddress("10.201.0.1/24"), interfaceIndex: tun.interfaceIndex)
            try netlink.setLinkUp(true, interfaceIndex: tun.interfaceIndex)
        } catch {
            tun.descriptor.close()
            throw error
        }
        return tun
    }

    /// A local client's TCP stream comes out of the TUN as super-packets that split into valid segments.
    func testKernelSuperPacketsSplitIntoValidSegments() {
        withPrivateNetworkNamespace { _ in
            let tun = try Self.offloadTun()
            defer { tun.descriptor.close() }
            var peer = PeerSide(tun: tun.descriptor)
            let client = try tcpSocket()
            defer { close(client) }
            let port: UInt16 = 5_001
            let connected = withAddress(peerAddress, port: port) { connect(client, $0, $1) }
            try require(connected == 0 || errno == EINPROGRESS, "connect: errno \(errno)")
            let deadline = ContinuousClock.now + exchangeTimeout
            guard let syn = try peer.nextTCP(toPort: port, deadline: deadline) else { throw KernelTestFailure(description: "no SYN") }
            let ip = VirtioNetHeader.size
            let clientPort = UInt16(readBE16(syn, ip + 20))
            let clientStart = readBE32(syn, ip + 24) &+ 1
            let toClient = TestFlow(source: peerAddress, destination: localAddress, sourcePort: port, destinationPort: clientPort)
            let peerStart: UInt32 = 0x7000_0000
            try peer.write(
                tcpSegment(
                    toClient, sequence: peerStart, payload: [], flags: 0x12, options: [2, 4] + be16(peerMSS),
                    acknowledgement: clientStart, window: 65_535))
            try require(try Descriptor(rawValue: client).waitWritable(timeoutMilliseconds: 5_000), "connect did not complete")
            let sent = (0..<streamBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
            var offset = 0
            var received = [UInt8](repeating: 0, count: streamBytes)
            var contiguous = 0
            var segmenter = OffloadSegmenter()
            var batch = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: 2_048)
            var superPackets = 0
            var coalescer = OffloadCoalescer()
            var largest = 0
            while contiguous < streamBytes, ContinuousClock.now < deadline {  // bounded by the deadline
                if offset < streamBytes {
                    let n = sent[offset...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if n > 0 { offset += n }
                }
                guard let read = try peer.nextTCP(toPort: port, deadline: min(deadline, .now + .milliseconds(200))) else { continue }
                let header = try read.withUnsafeBytes { try VirtioNetHeader(parsing: $0) }
                if header.gsoType != .none {
                    superPackets += 1
                    largest = max(largest, read.count - ip)
                }
                var next: Int? = 0
                while let resume = next {
                    batch.removeAll()
                    next = try segmenter.split(read[...], resumingAt: resume, into: &batch)
                    if header.gsoType != .none && resume == 0 && next == nil {
                        try expectRoundTrip(of: read, header: header, segments: batch, coalescer: &coalescer)
                    }
                    for segment in batch.map({ Array($0) }) {
                        try require(checksumProblems(segment) == [], "segment: \(checksumProblems(segment))")
                        let data = Array(segment[(20 + Int(segment[32] >> 4) * 4)...])
                        let at = Int(readBE32(segment, 24) &- clientStart)
                        guard !data.isEmpty, at >= 0, at + data.count <= streamBytes else { continue }
                        received.replaceSubrange(at..<(at + data.count), with: data)
                        if at <= contiguous { contiguous = max(contiguous, at + data.count) }
                    }
                }
                // Acknowledge what arrived, so the client keeps sending.
                try peer.write(
                    tcpSegment(
                        toClient, sequence: peerStart &+ 1, payload: [], acknowledgement: clientStart &+ UInt32(contiguous),
                        window: 65_535))
            }
            try require(contiguous == streamBytes, "received \(contiguous) of \(streamBytes) bytes")
            try require(received == sent, "the split segments carry the bytes sent")
            try require(superPackets > 0, "the kernel sent no super-packet")
            try require(segmenter.counters.totalDropped == 0, "drops: \(segmenter.counters)")
            try require(coalescer.counters.superPacketsCoalesced > 0, "no kernel super-packet was merged back")
            print(
                "kernel stream: \(superPackets) super-packets (largest \(largest) bytes), \(segmenter.counters.segmentsProduced) segments")
        }
    }

    /// Segments coalesced into one super-packet and written to the TUN reach a local TCP socket whole.
    func testCoalescedSuperPacketIsAcceptedByTheKernel() {
        withPrivateNetworkNamespace { _ in
            let tun = try Self.offloadTun()
            defer { tun.descriptor.close() }
            var peer = PeerSide(tun: tun.descriptor)
            let listener = try tcpSocket()
            defer { close(listener) }
            let port: UInt16 = 5_002
            try require(withAddress(localAddress, port: port) { bind(listener, $0, $1) } == 0, "bind: errno \(errno)")
            try require(listen(listener, 1) == 0, "listen: errno \(errno)")
            let toLocal = TestFlow(source: peerAddress, destination: localAddress, sourcePort: 6_000, destinationPort: port)
            let start: UInt32 = 0x0100_0000
            try peer.write(tcpSegment(toLocal, sequence: start, payload: [], flags: 0x02, options: [2, 4] + be16(peerMSS), window: 65_535))
            let deadline = ContinuousClock.now + exchangeTimeout
            guard let synAck = try peer.nextTCP(toPort: 6_000, deadline: deadline) else {
                throw KernelTestFailure(description: "no SYN-ACK")
            }
            let ip = VirtioNetHeader.size
            try require(synAck[ip + 33] & 0x12 == 0x12, "SYN-ACK flags \(synAck[ip + 33])")
            let acknowledgement = readBE32(synAck, ip + 24) &+ 1
            try peer.write(tcpSegment(toLocal, sequence: start &+ 1, payload: [], acknowledgement: acknowledgement, window: 65_535))
            try require(try Descriptor(rawValue: listener).waitReadable(timeoutMilliseconds: 5_000), "no connection to accept")
            let accepted = accept(listener, nil, nil)
            try require(accepted >= 0, "accept: errno \(errno)")
            defer { close(accepted) }

            let payload = (0..<(inboundSegments * inboundSegmentSize)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            var input = PacketBatch(capacity: inboundSegments, slotSize: 2_048)
            for index in 0..<inboundSegments {
                let chunk = Array(payload[(index * inboundSegmentSize)..<((index + 1) * inboundSegmentSize)])
                try input.append(
                    tcpSegment(
                        toLocal, sequence: start &+ 1 &+ UInt32(index * inboundSegmentSize), payload: chunk,
                        flags: index == inboundSegments - 1 ? 0x18 : 0x10, ip: TestIP(identification: UInt16(100 + index)),
                        acknowledgement: acknowledgement, window: 65_535))
            }
            var coalescer = OffloadCoalescer()
            var output = PacketBatch(capacity: 4, slotSize: OffloadCoalescer.maximumSuperPacketLength)
            try require(coalescer.coalesce(input, into: &output) == inboundSegments, "all segments taken")
            try require(output.count == 1, "one super-packet, not \(output.count)")
            try require(try tun.descriptor.writePackets(output) == 1, "super-packet written")

            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let socket = Descriptor(rawValue: accepted)
            while received.count < payload.count, ContinuousClock.now < deadline {  // bounded by the deadline
                guard try socket.waitReadable(timeoutMilliseconds: pollMilliseconds) else { continue }
                let n = chunk.withUnsafeMutableBytes { recv(accepted, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                try require(n > 0 || errno == EAGAIN, "recv: \(n), errno \(errno)")
                if n > 0 { received += chunk[0..<n] }
            }
            try require(received == payload, "received \(received.count) of \(payload.count) bytes intact")
            try require(coalescer.counters.superPacketsCoalesced == 1, "counters: \(coalescer.counters)")
        }
    }
}
