// DatagramSocket+Batch: many datagrams per system call (sendmmsg/recvmmsg) straight from and into
// a PacketBatch's slots — the provider's hot path.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

extension DatagramSocket {
    /// Sends the batch's packets from `startIndex` on, one datagram each, to `destination` (or the
    /// connected peer if nil), in one system call. Returns how many were sent: fewer than asked when
    /// the kernel stopped early (e.g. a non-blocking socket's buffer filled); send the rest from
    /// `startIndex + sent`.
    /// - Throws: `SystemError` if not even the first could be sent (EAGAIN, ECONNREFUSED after an
    ///   ICMP port unreachable on a connected socket, EMSGSIZE, …).
    /// The corresponding C function is `sendmmsg`.
    public func sendBatch(_ batch: PacketBatch, from startIndex: Int = 0, to destination: IPEndpoint? = nil) throws(SystemError) -> Int {
        precondition(startIndex >= 0 && startIndex <= batch.count, "start index \(startIndex) out of range 0...\(batch.count)")
        guard startIndex < batch.count else { return 0 }
        let destinationFamily: Int32
        if let destination {
            guard destination.family == family else {
                throw SystemError(call: "sendmmsg", errno: Glibc.EAFNOSUPPORT, path: destination.description)
            }
            destinationFamily = destination.family.addressFamily
        } else {
            destinationFamily = 0
        }
        let address = destination?.address.bytes ?? []
        let port = destination?.port ?? 0
        let fd = descriptor.rawValue
        let slotSize = batch.slotSize
        let count = Int32(batch.count - startIndex)
        let sent = try batch.withUnsafePackets { bytes, lengths throws(SystemError) in
            // baseAddress! : both buffers are non-empty (capacity >= 1).
            try Syscall.call("sendmmsg") {
                culvert_datagram_send_batch(
                    fd, bytes.baseAddress! + startIndex * slotSize, slotSize, lengths.baseAddress! + startIndex, count,
                    destinationFamily, address, port)
            }
        }
        return Int(sent)
    }

    /// Receives datagrams into the batch's free slots in one system call: on a blocking socket it
    /// waits for the first, then takes whatever else is queued, up to the free slots. Returns how many
    /// were appended. A datagram longer than the batch's slots is discarded (not counted), so the
    /// result can be 0 when every datagram that arrived was too long.
    /// - Throws: `SystemError` (EAGAIN on a non-blocking socket with nothing queued; ENOBUFS if the
    ///   batch is full).
    /// The corresponding C function is `recvmmsg` with MSG_WAITFORONE.
    public func receiveBatch(into batch: inout PacketBatch) throws(SystemError) -> Int {
        var unused: [IPEndpoint] = []
        return try receiveBatch(into: &batch, senders: &unused, recordSenders: false)
    }

    /// As `receiveBatch(into:)`, and appends each appended datagram's sender to `senders` (so
    /// `senders[senders.count - n + i]` sent the `i`-th of the `n` new packets). A datagram whose
    /// sender the kernel did not name is recorded with the unspecified address and port 0.
    public func receiveBatch(into batch: inout PacketBatch, senders: inout [IPEndpoint]) throws(SystemError) -> Int {
        try receiveBatch(into: &batch, senders: &senders, recordSenders: true)
    }
}

extension DatagramSocket {
    /// Byte offsets of the per-message sender records in `receiveBatch`'s scratch space.
    private static let scratchFamiliesOffset = 0
    private static let scratchPortsOffset = scratchFamiliesOffset + 4 * PacketBatch.maximumPacketCount
    private static let scratchTruncatedOffset = scratchPortsOffset + 2 * PacketBatch.maximumPacketCount
    private static let scratchAddressesOffset = scratchTruncatedOffset + PacketBatch.maximumPacketCount
    private static let scratchByteCount = scratchAddressesOffset + 16 * PacketBatch.maximumPacketCount

    private func receiveBatch(
        into batch: inout PacketBatch, senders: inout [IPEndpoint], recordSenders: Bool
    ) throws(SystemError) -> Int {
        let first = batch.count
        let free = batch.freeSlots
        guard free > 0 else { throw SystemError(call: "recvmmsg", errno: Glibc.ENOBUFS) }
        let fd = descriptor.rawValue
        let slotSize = batch.slotSize
        let socketFamily = family
        let result: Result<Int, SystemError> = withUnsafeTemporaryAllocation(byteCount: Self.scratchByteCount, alignment: 16) { scratch in
            // baseAddress! : the scratch space is scratchByteCount > 0 bytes; the regions do not overlap.
            let base = scratch.baseAddress!
            let count = PacketBatch.maximumPacketCount
            let families = (base + Self.scratchFamiliesOffset).bindMemory(to: Int32.self, capacity: count)
            let ports = (base + Self.scratchPortsOffset).bindMemory(to: UInt16.self, capacity: count)
            let truncated = (base + Self.scratchTruncatedOffset).bindMemory(to: UInt8.self, capacity: count)
            let addresses = (base + Self.scratchAddressesOffset).bindMemory(to: UInt8.self, capacity: 16 * count)
            return batch.withUnsafeSlots { bytes, lengths -> Result<Int, SystemError> in
                // baseAddress! : the batch's buffers are non-empty (capacity >= 1).
                let slots = bytes.baseAddress!
                let received: Int32
                do throws(SystemError) {
                    received = try Syscall.call("recvmmsg") {
                        culvert_datagram_receive_batch(
                            fd, slots + first * slotSize, slotSize, lengths.baseAddress! + first, truncated, Int32(free),
                            recordSenders ? families : nil, addresses, ports)
                    }
                } catch {
                    return .failure(error)
                }
                // Close the gaps left by discarded (truncated) datagrams, so the packets stay contiguous.
                var kept = 0
                for index in 0..<Int(received) where truncated[index] == 0 {
                    if kept != index {
                        (slots + (first + kept) * slotSize).copyMemory(
                            from: slots + (first + index) * slotSize, byteCount: lengths[first + index])
                        lengths[first + kept] = lengths[first + index]
                    }
                    if recordSenders {
                        let address = UnsafeBufferPointer(start: addresses + 16 * index, count: 16)
                        let sender = Self.endpoint(family: families[index], address: ArraySlice(address), port: ports[index])
                        senders.append(sender ?? IPEndpoint(address: .unspecified(socketFamily), port: 0))
                    }
                    kept += 1
                }
                return .success(kept)
            }
        }
        let kept = try result.get()
        batch.commit(kept)
        return kept
    }
}
