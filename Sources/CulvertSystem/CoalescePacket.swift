// CoalescePacket: what OffloadCoalescer needs to know about one IP packet before merging it: its
// flow (addresses and ports), its headers, and whether it may take part in a super-packet at all.
// Reading it checks every offset against the packet, so any bytes are safe to hand in.
// Hand-written, as the rest of Culvert's offload engine: no Swift library does GRO on raw packets.

/// A TCP or UDP packet over IPv4/IPv6 as the coalescer sees it.
struct CoalescePacket {
    let isTCP: Bool
    let isIPv6: Bool
    let ipHeaderLength: Int
    let transportHeaderLength: Int
    let payloadLength: Int
    /// May start or join a super-packet: no IP options or fragments, lengths consistent, payload
    /// present, no SYN/RST/URG, a valid checksum (when verified), UDP only when enabled.
    let mergeable: Bool

    var headersLength: Int { ipHeaderLength + transportHeaderLength }

    /// The packet's flow and headers, or nil when it is not TCP or UDP over IPv4/IPv6 with whole
    /// headers (such a packet passes through and belongs to no flow).
    init?(_ packet: UnsafeRawBufferPointer, coalesceUDP: Bool, verifyChecksum: Bool) {
        let length = packet.count
        guard length >= 1 else { return nil }
        let version = packet[0] >> 4
        var plain = true
        let ipLength: Int
        let proto: UInt8
        if version == 6 {
            guard length >= IPLayout.v6HeaderLength else { return nil }
            ipLength = IPLayout.v6HeaderLength
            proto = packet[IPLayout.v6NextHeaderOffset]
            plain = Int(packet.be16(IPLayout.v6PayloadLengthOffset)) + IPLayout.v6HeaderLength == length
        } else if version == 4 {
            guard length >= IPLayout.v4MinimumHeaderLength else { return nil }
            ipLength = Int(packet[0] & 0x0F) * 4
            guard ipLength >= IPLayout.v4MinimumHeaderLength, ipLength <= length else { return nil }
            proto = packet[IPLayout.v4ProtocolOffset]
            plain =
                ipLength == IPLayout.v4MinimumHeaderLength && Int(packet.be16(IPLayout.v4TotalLengthOffset)) == length
                && packet.be16(IPLayout.v4FragmentOffset) & IPLayout.v4FragmentMask == 0
        } else {
            return nil
        }
        let transportLength: Int
        if proto == IPLayout.protocolTCP {
            guard length >= ipLength + IPLayout.tcpMinimumHeaderLength else { return nil }
            transportLength = Int(packet[ipLength + IPLayout.tcpDataOffsetOffset] >> 4) * 4
            guard transportLength >= IPLayout.tcpMinimumHeaderLength, ipLength + transportLength <= length else { return nil }
            let flags = packet[ipLength + IPLayout.tcpFlagsOffset]
            plain = plain && flags & (IPLayout.tcpSYN | IPLayout.tcpRST | IPLayout.tcpURG) == 0
        } else if proto == IPLayout.protocolUDP {
            transportLength = IPLayout.udpHeaderLength
            guard length >= ipLength + transportLength else { return nil }
            plain =
                plain && coalesceUDP && Int(packet.be16(ipLength + IPLayout.udpLengthOffset)) == length - ipLength
                && packet.be16(ipLength + IPLayout.udpChecksumOffset) != 0
        } else {
            return nil
        }
        self.isTCP = proto == IPLayout.protocolTCP
        self.isIPv6 = version == 6
        self.ipHeaderLength = ipLength
        self.transportHeaderLength = transportLength
        self.payloadLength = length - ipLength - transportLength
        if plain && payloadLength > 0 && verifyChecksum {
            let transport = UnsafeRawBufferPointer(rebasing: packet[ipLength...])
            var sum = InternetChecksum()
            sum.addPseudoHeader(ipHeader: packet, isIPv6: version == 6, protocol: proto, transportLength: transport.count)
            sum.add(transport)
            plain = sum.folded == 0xFFFF
        }
        self.mergeable = plain && payloadLength > 0
    }
}

/// One output slot of a coalescing round: the super-packet being built there.
struct CoalesceSlot {
    /// The slot holds a TCP/UDP packet whose flow can be compared.
    var hasFlow = false
    /// More packets may still be appended.
    var open = false
    var isTCP = false
    var isIPv6 = false
    var ipHeaderLength = 0
    var transportHeaderLength = 0
    /// The first packet's payload length: the super-packet's gso_size.
    var segmentSize = 0
    var segments = 0
    /// The IP packet's length so far.
    var length = 0
    var nextSequence: UInt32 = 0
    var nextIdentification: UInt16 = 0

    var headersLength: Int { ipHeaderLength + transportHeaderLength }
}
