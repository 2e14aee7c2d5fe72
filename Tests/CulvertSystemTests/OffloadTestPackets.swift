// OffloadTestPackets: hand-built IPv4/IPv6, TCP and UDP packets and kernel-style super-packets for
// the offload engine's tests, a seeded random generator for the property tests, and an independent
// byte-at-a-time RFC 1071 checksum (deliberately not the engine's InternetChecksum) that every
// produced packet is checked with.

import CulvertCore
import CulvertSystem

/// The project's seeded generator (CulvertCore), so a failing property case can be replayed from its seed.
typealias SeededGenerator = SeededRandomNumberGenerator

/// The ones' complement sum of `bytes` as 16-bit big-endian words, folded, byte by byte.
func referenceSum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt16 {
    var sum = initial
    var index = 0
    while index < bytes.count {
        let high = UInt32(bytes[index])
        let low = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
        sum += high << 8 | low
        sum = (sum & 0xFFFF) + (sum >> 16)
        index += 2
    }
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    return UInt16(sum)
}

/// A TCP or UDP flow: addresses (4 or 16 bytes each) and ports.
struct TestFlow: Equatable {
    var source: [UInt8]
    var destination: [UInt8]
    var sourcePort: UInt16
    var destinationPort: UInt16
    var isIPv6: Bool { source.count == 16 }

    static let v4 = TestFlow(source: [10, 9, 0, 1], destination: [10, 9, 0, 2], sourcePort: 40_000, destinationPort: 5_201)
    static let v6 = TestFlow(
        source: [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], destination: [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        sourcePort: 40_001, destinationPort: 443)

    /// A random flow of either IP version.
    static func random(using generator: inout SeededGenerator) -> TestFlow {
        let v6 = Bool.random(using: &generator)
        let count = v6 ? 16 : 4
        return TestFlow(
            source: (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) },
            destination: (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) },
            sourcePort: UInt16.random(in: 1...65_535, using: &generator), destinationPort: UInt16.random(in: 1...65_535, using: &generator))
    }
}

func be16(_ value: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)] }
func be32(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
}
func readBE16(_ bytes: [UInt8], _ offset: Int) -> Int { Int(bytes[offset]) << 8 | Int(bytes[offset + 1]) }
func readBE32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}

/// What varies in a test packet's IP header.
struct TestIP {
    var identification: UInt16 = 0x1234
    var dontFragment = true
    var ttl: UInt8 = 64
    var tos: UInt8 = 0
    var flowLabel: UInt32 = 0x12345
}

/// The pseudo-header sum (unfolded words) of `flow` for `proto` and `length` transport bytes.
func pseudoHeaderSum(_ flow: TestFlow, proto: UInt8, length: Int) -> UInt32 {
    var sum = UInt32(referenceSum(flow.source + flow.destination))
    sum += UInt32(proto)
    sum += UInt32(length >> 16) + UInt32(length & 0xFFFF)
    return sum
}

/// An IP packet around `transport` (TCP or UDP header + payload, checksum field as given), with
/// correct IP lengths and IPv4 header checksum. `totalLength` overrides the length fields.
func ipPacket(_ flow: TestFlow, proto: UInt8, transport: [UInt8], ip: TestIP = TestIP()) -> [UInt8] {
    if flow.isIPv6 {
        let first = UInt32(6) << 28 | UInt32(ip.tos) << 20 | (ip.flowLabel & 0xFFFFF)
        return be32(first) + be16(transport.count) + [proto, ip.ttl] + flow.source + flow.destination + transport
    }
    var header: [UInt8] = [0x45, ip.tos] + be16(20 + transport.count) + be16(Int(ip.identification))
    header += [ip.dontFragment ? 0x40 : 0, 0, ip.ttl, proto, 0, 0] + flow.source + flow.destination
    let checksum = ~referenceSum(header)
    header[10] = UInt8(checksum >> 8)
    header[11] = UInt8(checksum & 0xFF)
    return header + transport
}

/// A TCP header (checksum 0) with `options` (a multiple of 4 bytes).
func tcpHeader(
    _ flow: TestFlow, sequence: UInt32, acknowledgement: UInt32 = 0x0102_0304, flags: UInt8 = 0x10, window: Int = 501, options: [UInt8] = []
) -> [UInt8] {
    let length = 20 + options.count
    return be16(Int(flow.sourcePort)) + be16(Int(flow.destinationPort)) + be32(sequence) + be32(acknowledgement)
        + [UInt8(length / 4) << 4, flags] + be16(window) + [0, 0, 0, 0] + options
}

/// Fills in the transport checksum (full, for a finished packet) of an IP packet built by `ipPacket`.
func finishTransportChecksum(_ packet: inout [UInt8], _ flow: TestFlow) {
    let ip = flow.isIPv6 ? 40 : 20
    let proto = packet[flow.isIPv6 ? 6 : 9]
    let field = ip + (proto == 6 ? 16 : 6)
    packet[field] = 0
    packet[field + 1] = 0
    let transport = Array(packet[ip...])
    var value = ~referenceSum(transport, initial: pseudoHeaderSum(flow, proto: proto, length: transport.count))
    if proto == 17 && value == 0 { value = 0xFFFF }
    packet[field] = UInt8(value >> 8)
    packet[field + 1] = UInt8(value & 0xFF)
}

/// A finished TCP segment.
func tcpSegment(
    _ flow: TestFlow, sequence: UInt32, payload: [UInt8], flags: UInt8 = 0x10, options: [UInt8] = [], ip: TestIP = TestIP(),
    acknowledgement: UInt32 = 0x0102_0304, window: Int = 501
) -> [UInt8] {
    let header = tcpHeader(flow, sequence: sequence, acknowledgement: acknowledgement, flags: flags, window: window, options: options)
    var packet = ipPacket(flow, proto: 6, transport: header + payload, ip: ip)
    finishTransportChecksum(&packet, flow)
    return packet
}

/// A finished UDP datagram.
func udpDatagram(_ flow: TestFlow, payload: [UInt8], ip: TestIP = TestIP()) -> [UInt8] {
    let header = be16(Int(flow.sourcePort)) + be16(Int(flow.destinationPort)) + be16(8 + payload.count) + [0, 0]
    var packet = ipPacket(flow, proto: 17, transport: header + payload, ip: ip)
    finishTransportChecksum(&packet, flow)
    return packet
}

/// A super-packet as the kernel hands it to a TUN: virtio_net_hdr (NEEDS_CSUM, GSO) and one IP
/// packet of every segment's payload, lengths for the whole, and the transport checksum field
/// holding the folded pseudo-header sum of the whole transport length.
func superPacket(
    _ flow: TestFlow, tcp: Bool, sequence: UInt32 = 1_000, payload: [UInt8], segmentSize: Int, flags: UInt8 = 0x10,
    options: [UInt8] = [], ip: TestIP = TestIP(), headerSize: Int = VirtioNetHeader.size
) -> [UInt8] {
    let transportHeader =
        tcp
        ? tcpHeader(flow, sequence: sequence, flags: flags, options: options)
        : be16(Int(flow.sourcePort)) + be16(Int(flow.destinationPort)) + be16(8 + payload.count) + [0, 0]
    var packet = ipPacket(flow, proto: tcp ? 6 : 17, transport: transportHeader + payload, ip: ip)
    let ipLength = flow.isIPv6 ? 40 : 20
    let field = ipLength + (tcp ? 16 : 6)
    let partial = referenceSum([], initial: pseudoHeaderSum(flow, proto: tcp ? 6 : 17, length: packet.count - ipLength))
    packet[field] = UInt8(partial >> 8)
    packet[field + 1] = UInt8(partial & 0xFF)
    let gsoType: VirtioNetHeader.GSOType = tcp ? (flow.isIPv6 ? .tcpV6 : .tcpV4) : .udpL4
    let header = VirtioNetHeader(
        flags: VirtioNetHeader.flagNeedsChecksum, gsoType: gsoType, ecn: tcp && flags & 0x80 != 0,
        headerLength: UInt16(ipLength + transportHeader.count), gsoSize: UInt16(segmentSize), checksumStart: UInt16(ipLength),
        checksumOffset: tcp ? 16 : 6)
    return header.encoded(size: headerSize) + packet
}

/// Problems with a produced IP packet by the independent checks: IPv4 header checksum and total
/// length, IPv6 payload length, TCP/UDP checksum and UDP length. Empty when all hold.
func checksumProblems(_ packet: [UInt8]) -> [String] {
    guard let first = packet.first else { return ["empty packet"] }
    var problems: [String] = []
    let isIPv6 = first >> 4 == 6
    let ip = isIPv6 ? 40 : Int(first & 0x0F) * 4
    guard packet.count >= ip + 8 else { return ["short packet of \(packet.count) bytes"] }
    let proto = packet[isIPv6 ? 6 : 9]
    if isIPv6 {
        if readBE16(packet, 4) != packet.count - 40 { problems.append("IPv6 payload length \(readBE16(packet, 4))") }
    } else {
        if referenceSum(Array(packet[0..<ip])) != 0xFFFF { problems.append("IPv4 header checksum") }
        if readBE16(packet, 2) != packet.count { problems.append("IPv4 total length \(readBE16(packet, 2)) for \(packet.count)") }
    }
    let flow = TestFlow(
        source: Array(packet[(isIPv6 ? 8 : 12)..<(isIPv6 ? 24 : 16)]), destination: Array(packet[(isIPv6 ? 24 : 16)..<(isIPv6 ? 40 : 20)]),
        sourcePort: 0, destinationPort: 0)
    let transport = Array(packet[ip...])
    if proto == 17 && readBE16(packet, ip + 4) != transport.count { problems.append("UDP length") }
    if referenceSum(transport, initial: pseudoHeaderSum(flow, proto: proto, length: transport.count)) != 0xFFFF {
        problems.append("transport checksum")
    }
    return problems
}

/// A batch's packets as arrays.
func packets(of batch: PacketBatch) -> [[UInt8]] { batch.map { Array($0) } }

/// A payload of `count` bytes from the generator.
func randomPayload(_ count: Int, using generator: inout SeededGenerator) -> [UInt8] {
    (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

/// TCP timestamp options padded with two NOPs (12 bytes), as Linux sends on every data segment.
func timestampOptions(_ value: UInt32, echo: UInt32) -> [UInt8] { [1, 1, 8, 10] + be32(value) + be32(echo) }
