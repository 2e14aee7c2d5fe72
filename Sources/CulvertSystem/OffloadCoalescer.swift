// OffloadCoalescer: the write side of a TUN created with IFF_VNET_HDR. Packets a provider received
// (e.g. decrypted from one UDP batch) are mostly consecutive segments of a few TCP flows; writing
// each one costs a syscall and a trip through the stack. This merges the segments of one flow into
// a super-packet with a virtio_net_hdr (GSO TCPV4/TCPV6, or UDP_L4 when enabled) that the kernel
// takes in one write, exactly as if a NIC had done GRO; whatever cannot merge passes through with a
// GSO_NONE header. Output goes into a PacketBatch's fixed slots: no per-packet allocation.
// Hand-written: no Swift library does GRO (wireguard-go's tun/offload_linux.go was read to learn the
// kernel's conventions; nothing was copied).

#if canImport(Glibc)
    import Glibc
#endif

/// Merges consecutive segments of TCP (and optionally UDP) flows into super-packets.
///
/// A value owned by one writer (e.g. PacketFlow's TUN write loop); its per-slot state is allocated
/// once, in `init`. Merging follows the kernel's GRO rules, conservatively: same addresses and ports,
/// no IP options or fragments, IPv4 identifications that increase by one, equal TOS/TTL (IPv6:
/// traffic class, flow label, hop limit), TCP: contiguous sequence numbers, equal ACK, window, urgent
/// pointer and options, only ACK/ECE plus PSH/FIN on the last and CWR on the first segment; every
/// segment as long as the first except a shorter last one; each packet's checksum verified first.
public struct OffloadCoalescer: Sendable {
    /// The most packets merged into one super-packet.
    public static let maximumSegments = 64
    /// The longest super-packet written, virtio_net_hdr included: one PacketBatch slot (64 KiB − 1).
    public static let maximumSuperPacketLength = PacketBatch.maximumPacketSize

    /// What to merge.
    public struct Options: Sendable, Hashable {
        /// Merge UDP datagrams into UDP_L4 super-packets: only if TUNSETOFFLOAD accepted USO4/USO6
        /// (Linux 6.2+); older kernels refuse such writes.
        public var coalesceUDP: Bool
        /// Verify each packet's TCP/UDP checksum before merging (a merged packet's checksum is
        /// recomputed by the kernel, which would hide a corrupted segment). A packet that fails passes
        /// through, for the kernel to drop.
        public var verifyChecksums: Bool

        public init(coalesceUDP: Bool = false, verifyChecksums: Bool = true) {
            self.coalesceUDP = coalesceUDP
            self.verifyChecksums = verifyChecksums
        }
    }

    /// The virtio_net_hdr length of the TUN (TUNSETVNETHDRSZ): 10 or 12.
    public let headerSize: Int
    public let options: Options
    /// What was merged, passed through and dropped so far.
    public private(set) var counters = OffloadCounters()
    /// One entry per output slot, for the round in progress.
    private var slots: [CoalesceSlot]

    public init(headerSize: Int = VirtioNetHeader.size, options: Options = Options()) {
        precondition(
            headerSize == VirtioNetHeader.size || headerSize == VirtioNetHeader.sizeWithBufferCount,
            "a virtio_net_hdr is 10 or 12 bytes")
        self.headerSize = headerSize
        self.options = options
        self.slots = [CoalesceSlot](repeating: CoalesceSlot(), count: PacketBatch.maximumPacketCount)
    }

    /// Merges `packets` (plain IP packets) from `startIndex` on into `output`'s free slots, each
    /// output packet a virtio_net_hdr and an IP packet, ready for one TUN write each.
    ///
    /// Returns the index of the first packet not taken: `packets.count` when all were, less when
    /// `output` filled up (write it, empty it, call again from there). A packet too long for an
    /// output slot with its header is dropped and counted (`.packetTooLarge`). Packets already in
    /// `output` are left alone.
    public mutating func coalesce(_ packets: PacketBatch, from startIndex: Int = 0, into output: inout PacketBatch) -> Int {
        precondition(startIndex >= 0 && startIndex <= packets.count, "start index \(startIndex) out of range 0...\(packets.count)")
        let firstOutput = output.count
        let outputSlotSize = output.slotSize
        let outputCapacity = output.capacity
        var next = startIndex
        var produced = 0
        packets.withUnsafePackets { input, inputLengths in
            output.withUnsafeSlots { out, outLengths in
                var round = Round(
                    output: out, outputLengths: outLengths, slotSize: outputSlotSize, first: firstOutput, count: firstOutput,
                    capacity: outputCapacity)
                while next < packets.count {
                    let start = next * packets.slotSize
                    let packet = UnsafeRawBufferPointer(rebasing: input[start..<(start + inputLengths[next])])
                    guard take(packet, round: &round) else { break }
                    next += 1
                }
                for index in round.first..<round.count { finish(slot: index, round: round) }
                produced = round.count - round.first
            }
        }
        output.commit(produced)
        return next
    }

    /// The output of one `coalesce` call.
    private struct Round {
        let output: UnsafeMutableRawBufferPointer
        let outputLengths: UnsafeMutableBufferPointer<Int>
        let slotSize: Int
        /// The first slot this round fills.
        let first: Int
        /// Slots filled so far.
        var count: Int
        let capacity: Int

        /// The IP packet in slot `index` (after the virtio header), `length` bytes long.
        func packet(in index: Int, headerSize: Int, length: Int) -> UnsafeMutableRawBufferPointer {
            let start = index * slotSize + headerSize
            return UnsafeMutableRawBufferPointer(rebasing: output[start..<(start + length)])
        }
    }

    /// Merges `packet` into the latest slot of its flow, or copies it into a new slot. Returns false
    /// (taking nothing) when it needs a new slot and none is free.
    private mutating func take(_ packet: UnsafeRawBufferPointer, round: inout Round) -> Bool {
        let candidate = CoalescePacket(packet, coalesceUDP: options.coalesceUDP, verifyChecksum: options.verifyChecksums)
        if let candidate, let index = latestSlot(of: candidate, packet: packet, round: round) {
            if slots[index].open && candidate.mergeable && canMerge(packet, candidate, into: index, round: round) {
                merge(packet, candidate, into: index, round: round)
                return true
            }
            slots[index].open = false
        }
        guard round.count < round.capacity else { return false }
        guard headerSize + packet.count <= round.slotSize, headerSize + packet.count <= Self.maximumSuperPacketLength else {
            counters.record(.packetTooLarge)
            return true
        }
        let index = round.count
        round.packet(in: index, headerSize: headerSize, length: packet.count).copyMemory(from: packet)
        round.count += 1
        var slot = CoalesceSlot()
        slot.segments = 1
        slot.length = packet.count
        if let candidate {
            slot.hasFlow = true
            slot.isTCP = candidate.isTCP
            slot.isIPv6 = candidate.isIPv6
            slot.ipHeaderLength = candidate.ipHeaderLength
            slot.transportHeaderLength = candidate.transportHeaderLength
            slot.segmentSize = candidate.payloadLength
            if candidate.mergeable {
                let ip = candidate.ipHeaderLength
                let flags = candidate.isTCP ? packet[ip + IPLayout.tcpFlagsOffset] : 0
                // A first segment with PSH or FIN ends its super-packet at once.
                slot.open = flags & (IPLayout.tcpPSH | IPLayout.tcpFIN) == 0
                if candidate.isTCP {
                    slot.nextSequence = packet.be32(ip + IPLayout.tcpSequenceOffset) &+ UInt32(candidate.payloadLength)
                }
                if !candidate.isIPv6 { slot.nextIdentification = packet.be16(IPLayout.v4IdentificationOffset) &+ 1 }
            }
        }
        slots[index] = slot
        return true
    }

    /// The newest slot of this round holding a packet of `candidate`'s flow.
    private func latestSlot(of candidate: CoalescePacket, packet: UnsafeRawBufferPointer, round: Round) -> Int? {
        var index = round.count - 1
        while index >= round.first {
            let slot = slots[index]
            if slot.hasFlow, slot.isTCP == candidate.isTCP, slot.isIPv6 == candidate.isIPv6 {
                let held = UnsafeRawBufferPointer(round.packet(in: index, headerSize: headerSize, length: slot.length))
                let addresses = candidate.isIPv6 ? IPLayout.v6SourceOffset : IPLayout.v4SourceOffset
                let addressLength = candidate.isIPv6 ? 32 : 8
                if Self.equal(held, addresses, packet, addresses, count: addressLength)
                    && Self.equal(held, slot.ipHeaderLength, packet, candidate.ipHeaderLength, count: 4)
                {
                    return index
                }
            }
            index -= 1
        }
        return nil
    }

    /// Whether `packet` may be appended to the super-packet in slot `index` (same flow, known open).
    private func canMerge(_ packet: UnsafeRawBufferPointer, _ candidate: CoalescePacket, into index: Int, round: Round) -> Bool {
        let slot = slots[index]
        guard slot.segments < Self.maximumSegments, candidate.payloadLength <= slot.segmentSize,
            candidate.ipHeaderLength == slot.ipHeaderLength, candidate.transportHeaderLength == slot.transportHeaderLength
        else { return false }
        let grown = slot.length + candidate.payloadLength
        guard headerSize + grown <= round.slotSize, headerSize + grown <= Self.maximumSuperPacketLength else { return false }
        let held = UnsafeRawBufferPointer(round.packet(in: index, headerSize: headerSize, length: slot.length))
        if slot.isIPv6 {
            // Version, traffic class and flow label; hop limit.
            guard Self.equal(held, 0, packet, 0, count: 4), held[IPLayout.v6HopLimitOffset] == packet[IPLayout.v6HopLimitOffset] else {
                return false
            }
        } else {
            // TOS; flags (DF); TTL; an identification one past the last segment's.
            guard held[1] == packet[1], Self.equal(held, IPLayout.v4FragmentOffset, packet, IPLayout.v4FragmentOffset, count: 3),
                packet.be16(IPLayout.v4IdentificationOffset) == slot.nextIdentification
            else { return false }
        }
        guard slot.isTCP else { return true }
        let ip = slot.ipHeaderLength
        let heldFlags = held[ip + IPLayout.tcpFlagsOffset]
        let flags = packet[ip + IPLayout.tcpFlagsOffset]
        let lastOnly = IPLayout.tcpPSH | IPLayout.tcpFIN
        return packet.be32(ip + IPLayout.tcpSequenceOffset) == slot.nextSequence
            && flags & IPLayout.tcpCWR == 0
            && flags & ~lastOnly == heldFlags & ~(lastOnly | IPLayout.tcpCWR)
            && Self.equal(held, ip + IPLayout.tcpAcknowledgementOffset, packet, ip + IPLayout.tcpAcknowledgementOffset, count: 4)
            && Self.equal(held, ip + IPLayout.tcpWindowOffset, packet, ip + IPLayout.tcpWindowOffset, count: 2)
            && Self.equal(held, ip + IPLayout.tcpUrgentOffset, packet, ip + IPLayout.tcpUrgentOffset, count: 2)
            && Self.equal(
                held, ip + IPLayout.tcpMinimumHeaderLength, packet, ip + IPLayout.tcpMinimumHeaderLength,
                count: slot.transportHeaderLength - IPLayout.tcpMinimumHeaderLength)
    }

    /// Appends `packet`'s payload to slot `index` (canMerge said yes).
    private mutating func merge(_ packet: UnsafeRawBufferPointer, _ candidate: CoalescePacket, into index: Int, round: Round) {
        var slot = slots[index]
        let payload = UnsafeRawBufferPointer(rebasing: packet[candidate.headersLength...])
        let grown = round.packet(in: index, headerSize: headerSize, length: slot.length + payload.count)
        UnsafeMutableRawBufferPointer(rebasing: grown[slot.length...]).copyMemory(from: payload)
        slot.length += payload.count
        slot.segments += 1
        slot.nextIdentification &+= 1
        slot.nextSequence &+= UInt32(payload.count)
        if payload.count < slot.segmentSize { slot.open = false }
        if slot.isTCP {
            let field = slot.ipHeaderLength + IPLayout.tcpFlagsOffset
            let last = packet[field] & (IPLayout.tcpPSH | IPLayout.tcpFIN)
            if last != 0 {
                grown[field] |= last
                slot.open = false
            }
        }
        slots[index] = slot
    }

    /// Writes slot `index`'s virtio_net_hdr and, for a super-packet, its IP lengths, IPv4 checksum
    /// and the partial (pseudo-header) transport checksum the kernel completes per segment.
    private mutating func finish(slot index: Int, round: Round) {
        let slot = slots[index]
        round.outputLengths[index] = headerSize + slot.length
        let headerBytes = UnsafeMutableRawBufferPointer(
            rebasing: round.output[(index * round.slotSize)..<(index * round.slotSize + headerSize)])
        guard slot.segments > 1 else {
            VirtioNetHeader().encode(into: headerBytes, size: headerSize)
            counters.packetsPassedThrough &+= 1
            return
        }
        counters.superPacketsCoalesced &+= 1
        counters.packetsCoalesced &+= UInt64(slot.segments)
        let packet = round.packet(in: index, headerSize: headerSize, length: slot.length)
        let ip = slot.ipHeaderLength
        let transportLength = slot.length - ip
        let gsoType: VirtioNetHeader.GSOType
        let checksumField: Int
        if slot.isTCP {
            gsoType = slot.isIPv6 ? .tcpV6 : .tcpV4
            checksumField = ip + IPLayout.tcpChecksumOffset
        } else {
            gsoType = .udpL4
            checksumField = ip + IPLayout.udpChecksumOffset
            packet.setBE16(UInt16(transportLength), at: ip + IPLayout.udpLengthOffset)
        }
        if slot.isIPv6 {
            packet.setBE16(UInt16(slot.length - IPLayout.v6HeaderLength), at: IPLayout.v6PayloadLengthOffset)
        } else {
            packet.setBE16(UInt16(slot.length), at: IPLayout.v4TotalLengthOffset)
            packet.setBE16(0, at: IPLayout.v4ChecksumOffset)
            var sum = InternetChecksum()
            sum.add(UnsafeRawBufferPointer(rebasing: packet[0..<ip]))
            packet.setBE16(sum.checksum, at: IPLayout.v4ChecksumOffset)
        }
        var pseudo = InternetChecksum()
        pseudo.addPseudoHeader(
            ipHeader: UnsafeRawBufferPointer(packet), isIPv6: slot.isIPv6,
            protocol: slot.isTCP ? IPLayout.protocolTCP : IPLayout.protocolUDP, transportLength: transportLength)
        packet.setBE16(pseudo.folded, at: checksumField)
        let ecn = slot.isTCP && packet[ip + IPLayout.tcpFlagsOffset] & IPLayout.tcpCWR != 0
        VirtioNetHeader(
            flags: VirtioNetHeader.flagNeedsChecksum, gsoType: gsoType, ecn: ecn, headerLength: UInt16(slot.headersLength),
            gsoSize: UInt16(slot.segmentSize), checksumStart: UInt16(ip), checksumOffset: UInt16(checksumField - ip)
        ).encode(into: headerBytes, size: headerSize)
    }

    /// Whether `count` bytes of `a` at `aOffset` equal those of `b` at `bOffset` (bounds checked by callers).
    private static func equal(
        _ a: UnsafeRawBufferPointer, _ aOffset: Int, _ b: UnsafeRawBufferPointer, _ bOffset: Int, count: Int
    ) -> Bool {
        guard count > 0 else { return true }
        // baseAddress! : both buffers hold at least offset + count > 0 bytes, so they have a base.
        return memcmp(a.baseAddress! + aOffset, b.baseAddress! + bOffset, count) == 0
    }
}
