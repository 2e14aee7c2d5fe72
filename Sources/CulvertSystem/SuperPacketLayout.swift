// SuperPacketLayout: a virtio_net_hdr and the IP packet after it, checked against each other
// before OffloadSegmenter touches a byte: every offset the split will use is proved inside the
// buffer here, so no input — however malformed — reaches an out-of-bounds access or a trap; a bad
// one becomes an `OffloadDrop`. Hand-written: no Swift library parses virtio-net super-packets.

/// Where the headers of a GSO super-packet are and how it divides into segments.
struct SuperPacketLayout {
    /// The largest number of segments one super-packet may divide into: 64 KiB over TCP's
    /// smallest MSS (48 bytes) is 1,366, so every kernel-made super-packet fits.
    static let maximumSegments = 2_048

    let header: VirtioNetHeader
    /// Bytes of the IP packet (after the virtio header).
    let packetLength: Int
    let isIPv6: Bool
    let ipHeaderLength: Int
    /// `IPLayout.protocolTCP` or `.protocolUDP`.
    let transportProtocol: UInt8
    let transportHeaderLength: Int
    /// Payload bytes per segment (the last may be shorter).
    let segmentSize: Int
    /// How many segments the payload divides into (at least 1).
    let segmentCount: Int

    /// IP + transport headers, copied in front of every segment.
    var headersLength: Int { ipHeaderLength + transportHeaderLength }
    /// Payload bytes after the headers.
    var payloadLength: Int { packetLength - headersLength }
    var isTCP: Bool { transportProtocol == IPLayout.protocolTCP }

    /// Checks the checksum request of any packet (GSO or not) against the packet's length.
    /// Checks, in order: packet length, hdr_len, csum_start, csum_offset.
    static func checkBounds(_ header: VirtioNetHeader, packetLength: Int) throws(OffloadDrop) {
        guard packetLength <= IPLayout.maximumPacketLength else { throw .packetTooLarge }
        guard Int(header.headerLength) <= packetLength else { throw .headerLengthPastBuffer }
        if header.needsChecksum {
            guard Int(header.checksumStart) < packetLength else { throw .checksumStartPastBuffer }
            guard Int(header.checksumStart) + Int(header.checksumOffset) + 2 <= packetLength else { throw .checksumOffsetPastBuffer }
        }
    }

    /// The layout of a GSO packet (`header.gsoType != .none`), or the first reason it is malformed.
    /// Checks, in order: `checkBounds`, gso_size, IP version, IP header, fragments, protocol,
    /// csum_start/offset, transport header, segment size and count. hdr_len is only bounds-checked:
    /// kernels fill it inconsistently, so the real header length is taken from the packet.
    init(header: VirtioNetHeader, packet: UnsafeRawBufferPointer, slotSize: Int) throws(OffloadDrop) {
        let length = packet.count
        try Self.checkBounds(header, packetLength: length)
        guard header.gsoSize > 0 else { throw .gsoSizeZero }
        guard length >= 1 else { throw .truncatedIPHeader }
        let version = packet[0] >> 4
        switch (header.gsoType, version) {
        case (.tcpV4, 4), (.tcpV6, 6), (.udpL4, 4), (.udpL4, 6): break
        default: throw .ipVersionMismatch
        }
        let isIPv6 = version == 6
        let ipHeaderLength: Int
        let proto: UInt8
        if isIPv6 {
            guard length >= IPLayout.v6HeaderLength else { throw .truncatedIPHeader }
            ipHeaderLength = IPLayout.v6HeaderLength
            proto = packet[IPLayout.v6NextHeaderOffset]
        } else {
            guard length >= IPLayout.v4MinimumHeaderLength else { throw .truncatedIPHeader }
            ipHeaderLength = Int(packet[0] & 0x0F) * 4
            guard ipHeaderLength >= IPLayout.v4MinimumHeaderLength, ipHeaderLength <= length else { throw .truncatedIPHeader }
            guard packet.be16(IPLayout.v4FragmentOffset) & IPLayout.v4FragmentMask == 0 else { throw .fragmentedPacket }
            proto = packet[IPLayout.v4ProtocolOffset]
        }
        let wanted = header.gsoType == .udpL4 ? IPLayout.protocolUDP : IPLayout.protocolTCP
        guard proto == wanted else { throw .protocolMismatch }
        let checksumField = proto == IPLayout.protocolTCP ? IPLayout.tcpChecksumOffset : IPLayout.udpChecksumOffset
        guard header.needsChecksum, Int(header.checksumStart) == ipHeaderLength, Int(header.checksumOffset) == checksumField else {
            throw .checksumFieldMismatch
        }
        let transportHeaderLength: Int
        if proto == IPLayout.protocolTCP {
            guard length >= ipHeaderLength + IPLayout.tcpMinimumHeaderLength else { throw .truncatedTransportHeader }
            transportHeaderLength = Int(packet[ipHeaderLength + IPLayout.tcpDataOffsetOffset] >> 4) * 4
            guard transportHeaderLength >= IPLayout.tcpMinimumHeaderLength, ipHeaderLength + transportHeaderLength <= length else {
                throw .truncatedTransportHeader
            }
        } else {
            transportHeaderLength = IPLayout.udpHeaderLength
            guard length >= ipHeaderLength + transportHeaderLength else { throw .truncatedTransportHeader }
        }
        let headersLength = ipHeaderLength + transportHeaderLength
        let segmentSize = Int(header.gsoSize)
        let payload = length - headersLength
        let firstSegment = headersLength + Swift.min(segmentSize, payload)
        guard headersLength + segmentSize <= IPLayout.maximumPacketLength, firstSegment <= slotSize else { throw .gsoSizeTooLarge }
        let count = payload == 0 ? 1 : (payload + segmentSize - 1) / segmentSize
        guard count <= Self.maximumSegments else { throw .tooManySegments }
        self.header = header
        self.packetLength = length
        self.isIPv6 = isIPv6
        self.ipHeaderLength = ipHeaderLength
        self.transportProtocol = proto
        self.transportHeaderLength = transportHeaderLength
        self.segmentSize = segmentSize
        self.segmentCount = count
    }
}
