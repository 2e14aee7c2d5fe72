// OffloadSegmenter: the read side of a TUN created with IFF_VNET_HDR and TUNSETOFFLOAD. One read
// returns a virtio_net_hdr and a TCP or UDP super-packet of up to 64 KiB; the provider wants the
// individual IP packets it stands for. This writes them, with correct IPv4/IPv6, TCP and UDP
// headers and full checksums, straight into a PacketBatch's free slots: no per-packet allocation.
// Hand-written: no Swift library segments GSO packets (wireguard-go's tun/offload_linux.go does this
// in Go; it was read to learn the kernel's conventions, nothing was copied).

/// Splits TUN super-packets into packets. A value owned by one reader (e.g. PacketFlow's TUN loop);
/// it holds only its counters, so splitting allocates nothing.
public struct OffloadSegmenter: Sendable {
    /// The most segments a super-packet may divide into; a larger one is dropped (`.tooManySegments`).
    public static let maximumSegments = SuperPacketLayout.maximumSegments
    /// The longest read a virtio-net TUN returns: the largest IP packet and a 12-byte header. Size
    /// the read buffer with it (it is longer than a PacketBatch slot, which holds IP packets only).
    public static let maximumReadLength = IPLayout.maximumPacketLength + VirtioNetHeader.sizeWithBufferCount

    /// The virtio_net_hdr length the TUN was set to (TUNSETVNETHDRSZ): 10 or 12.
    public let headerSize: Int
    /// What was split, completed and dropped so far.
    public private(set) var counters = OffloadCounters()

    /// A segmenter for a TUN whose packets start with a `headerSize`-byte virtio_net_hdr.
    public init(headerSize: Int = VirtioNetHeader.size) {
        precondition(
            headerSize == VirtioNetHeader.size || headerSize == VirtioNetHeader.sizeWithBufferCount,
            "a virtio_net_hdr is 10 or 12 bytes")
        self.headerSize = headerSize
    }

    /// Splits one read from the TUN (`headerSize` bytes of virtio_net_hdr, then the IP packet) into
    /// IP packets appended to `batch`'s free slots, from segment `firstSegment` on.
    ///
    /// A GSO packet becomes its segments; a NEEDS_CSUM packet gets its checksum completed; any other
    /// packet is copied as it is. When the batch fills up before the last segment, the return value
    /// is the segment to resume from (send the batch, empty it, call again with the same `read` and
    /// that value); nil means every segment was written. Nothing is written for a dropped packet.
    /// - Throws: the `OffloadDrop` reason (also counted in `counters`) for a malformed header or
    ///   packet; the batch is unchanged then.
    public mutating func split(
        _ read: UnsafeRawBufferPointer, resumingAt firstSegment: Int = 0, into batch: inout PacketBatch
    ) throws(OffloadDrop) -> Int? {
        let first = batch.count
        let slotSize = batch.slotSize
        let result: Result<SplitOutcome, OffloadDrop> = batch.withUnsafeSlots { bytes, lengths in
            let free = UnsafeMutableRawBufferPointer(rebasing: bytes[(first * slotSize)...])
            let freeLengths = UnsafeMutableBufferPointer(rebasing: lengths[first...])
            do throws(OffloadDrop) {
                return .success(try split(read, resumingAt: firstSegment, slots: free, slotSize: slotSize, lengths: freeLengths))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let outcome):
            batch.commit(outcome.written)
            counters.segmentsProduced &+= UInt64(outcome.written)
            if outcome.completedChecksum { counters.checksumsCompleted &+= 1 }
            if outcome.finishedSuperPacket { counters.superPacketsSplit &+= 1 }
            return outcome.next
        case .failure(let drop):
            counters.record(drop)
            throw drop
        }
    }

    /// `split(_:resumingAt:into:)` for a read held in an array slice (e.g. a PacketBatch element).
    public mutating func split(
        _ read: ArraySlice<UInt8>, resumingAt firstSegment: Int = 0, into batch: inout PacketBatch
    ) throws(OffloadDrop) -> Int? {
        let result: Result<Int?, OffloadDrop> = read.withUnsafeBytes { bytes in
            do throws(OffloadDrop) { return .success(try split(bytes, resumingAt: firstSegment, into: &batch)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// What one call of the core wrote.
    struct SplitOutcome {
        /// Slots filled.
        var written: Int
        /// The segment to resume from, or nil when done.
        var next: Int?
        /// A NEEDS_CSUM checksum was completed.
        var completedChecksum = false
        /// The last segment of a GSO packet of two or more segments was written.
        var finishedSuperPacket = false
    }

    /// The core: writes segments into `lengths.count` slots of `slotSize` bytes at `slots`.
    /// Returns how many slots it filled and the segment to resume from, if any.
    func split(
        _ read: UnsafeRawBufferPointer, resumingAt firstSegment: Int, slots: UnsafeMutableRawBufferPointer, slotSize: Int,
        lengths: UnsafeMutableBufferPointer<Int>
    ) throws(OffloadDrop) -> SplitOutcome {
        let header = try VirtioNetHeader(parsing: read)
        guard read.count >= headerSize else { throw .truncatedVirtioHeader }
        let packet = UnsafeRawBufferPointer(rebasing: read[headerSize...])
        guard lengths.count > 0 else {
            try SuperPacketLayout.checkBounds(header, packetLength: packet.count)
            return SplitOutcome(written: 0, next: firstSegment)
        }
        if header.gsoType == .none {
            try SuperPacketLayout.checkBounds(header, packetLength: packet.count)
            guard packet.count <= slotSize else { throw .packetTooLarge }
            let slot = UnsafeMutableRawBufferPointer(rebasing: slots[0..<packet.count])
            slot.copyMemory(from: packet)
            if header.needsChecksum {
                let start = Int(header.checksumStart)
                let field = start + Int(header.checksumOffset)
                var sum = InternetChecksum()
                sum.add(UnsafeRawBufferPointer(rebasing: slot[start...]))
                // The kernel's skb_checksum_help: a computed 0 is sent as 0xFFFF (same value in ones' complement).
                let value = sum.checksum
                slot.setBE16(value == 0 ? 0xFFFF : value, at: field)
            }
            lengths[0] = packet.count
            return SplitOutcome(written: 1, next: nil, completedChecksum: header.needsChecksum)
        }
        let layout = try SuperPacketLayout(header: header, packet: packet, slotSize: slotSize)
        guard firstSegment >= 0, firstSegment < layout.segmentCount else { return SplitOutcome(written: 0, next: nil) }
        let end = Swift.min(layout.segmentCount, firstSegment + lengths.count)
        for segment in firstSegment..<end {
            let slot = UnsafeMutableRawBufferPointer(rebasing: slots[((segment - firstSegment) * slotSize)...])
            lengths[segment - firstSegment] = Self.writeSegment(segment, of: packet, layout: layout, into: slot)
        }
        let done = end == layout.segmentCount
        return SplitOutcome(
            written: end - firstSegment, next: done ? nil : end, finishedSuperPacket: done && layout.segmentCount > 1)
    }

    /// Writes segment `index` (headers fixed up, checksums complete) at the start of `slot`.
    /// Returns its length. `layout` proved every offset used here inside `packet` and the slot.
    static func writeSegment(
        _ index: Int, of packet: UnsafeRawBufferPointer, layout: SuperPacketLayout, into slot: UnsafeMutableRawBufferPointer
    ) -> Int {
        let headers = layout.headersLength
        let payloadStart = headers + index * layout.segmentSize
        let payload = Swift.min(layout.segmentSize, layout.packetLength - payloadStart)
        let length = headers + payload
        slot.copyMemory(from: UnsafeRawBufferPointer(rebasing: packet[0..<headers]))
        UnsafeMutableRawBufferPointer(rebasing: slot[headers..<length])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: packet[payloadStart..<(payloadStart + payload)]))
        let out = UnsafeMutableRawBufferPointer(rebasing: slot[0..<length])
        let ip = layout.ipHeaderLength
        let isLast = index == layout.segmentCount - 1
        if layout.isIPv6 {
            out.setBE16(UInt16(length - IPLayout.v6HeaderLength), at: IPLayout.v6PayloadLengthOffset)
        } else {
            out.setBE16(UInt16(length), at: IPLayout.v4TotalLengthOffset)
            let id = UnsafeRawBufferPointer(out).be16(IPLayout.v4IdentificationOffset) &+ UInt16(truncatingIfNeeded: index)
            out.setBE16(id, at: IPLayout.v4IdentificationOffset)
            out.setBE16(0, at: IPLayout.v4ChecksumOffset)
            var sum = InternetChecksum()
            sum.add(UnsafeRawBufferPointer(rebasing: out[0..<ip]))
            out.setBE16(sum.checksum, at: IPLayout.v4ChecksumOffset)
        }
        let checksumField: Int
        if layout.isTCP {
            let sequence = UnsafeRawBufferPointer(out).be32(ip + IPLayout.tcpSequenceOffset)
            out.setBE32(sequence &+ UInt32(truncatingIfNeeded: index * layout.segmentSize), at: ip + IPLayout.tcpSequenceOffset)
            var flags = out[ip + IPLayout.tcpFlagsOffset]
            if !isLast { flags &= ~(IPLayout.tcpFIN | IPLayout.tcpPSH) }
            if index != 0 { flags &= ~IPLayout.tcpCWR }
            out[ip + IPLayout.tcpFlagsOffset] = flags
            checksumField = ip + IPLayout.tcpChecksumOffset
        } else {
            out.setBE16(UInt16(length - ip), at: ip + IPLayout.udpLengthOffset)
            checksumField = ip + IPLayout.udpChecksumOffset
        }
        out.setBE16(0, at: checksumField)
        let transport = UnsafeRawBufferPointer(rebasing: out[ip...])
        var sum = InternetChecksum()
        sum.addPseudoHeader(
            ipHeader: UnsafeRawBufferPointer(out), isIPv6: layout.isIPv6, protocol: layout.transportProtocol,
            transportLength: transport.count)
        sum.add(transport)
        let value = sum.checksum
        // UDP: 0 means "no checksum", so a computed 0 is sent as 0xFFFF (RFC 768); TCP keeps 0.
        out.setBE16(value == 0 && !layout.isTCP ? 0xFFFF : value, at: checksumField)
        return length
    }
}
