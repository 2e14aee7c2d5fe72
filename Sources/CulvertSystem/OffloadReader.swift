// OffloadReader and OffloadWriter: the offload engine on a TUN descriptor, shaped for PacketFlow's
// hot path. The reader reads super-packets into one reused buffer and hands out plain IP packets
// in PacketBatches, keeping the rest of a super-packet for the next call when the batch fills; the
// writer coalesces a batch and writes the super-packets. Hand-written, as the rest of the engine:
// no Swift library reads or writes virtio-net TUNs.

/// Reads a TUN created with IFF_VNET_HDR into batches of plain IP packets. Owned by the one thread
/// that reads the TUN; its buffer is allocated once, in `init`.
public struct OffloadReader: Sendable {
    /// What was split, completed and dropped so far.
    public var counters: OffloadCounters { segmenter.counters }
    private var segmenter: OffloadSegmenter
    /// One read: `OffloadSegmenter.maximumReadLength` bytes, the first `length` valid.
    private var buffer: [UInt8]
    private var length = 0
    /// The segment of `buffer` to hand out next, or nil when nothing is pending.
    private var pending: Int?

    /// Whether segments of the last super-packet read are still to be handed out (the next call
    /// returns them without reading).
    public var hasPending: Bool { pending != nil }

    /// A reader for a TUN whose packets start with a `headerSize`-byte virtio_net_hdr (10 or 12).
    public init(headerSize: Int = VirtioNetHeader.size) {
        segmenter = OffloadSegmenter(headerSize: headerSize)
        buffer = [UInt8](repeating: 0, count: OffloadSegmenter.maximumReadLength)
    }

    /// Appends IP packets to `batch` until it is full or `descriptor` has nothing ready (EAGAIN; the
    /// descriptor should be non-blocking). Segments that did not fit are kept for the next call.
    /// A malformed read is dropped and counted in `counters`. Returns how many packets were appended.
    /// - Throws: `SystemError` from `read` if nothing was appended before it; after some packets,
    ///   returns those and the next call meets the error again.
    /// The corresponding C function is `read`, once per super-packet and once more for the EAGAIN.
    public mutating func readPackets(from descriptor: Descriptor, into batch: inout PacketBatch) throws(SystemError) -> Int {
        let before = batch.count
        while !batch.isFull {
            if let resume = pending {
                pending = splitPending(from: resume, into: &batch)
                continue
            }
            let result: Result<Int, SystemError> = buffer.withUnsafeMutableBytes { bytes in
                do throws(SystemError) { return .success(try descriptor.read(into: bytes)) } catch { return .failure(error) }
            }
            switch result {
            case .success(let n):
                guard n > 0 else { return batch.count - before }
                length = n
                pending = 0
            case .failure(let error):
                if error.isWouldBlock || batch.count > before { return batch.count - before }
                throw error
            }
        }
        return batch.count - before
    }

    /// Splits the buffered read from segment `resume` into `batch`; the segment to resume from next.
    private mutating func splitPending(from resume: Int, into batch: inout PacketBatch) -> Int? {
        var segmenter = self.segmenter  // a value of integers: copied out so the buffer can be read meanwhile
        let count = length
        let next: Int? = buffer.withUnsafeBytes { bytes in
            do throws(OffloadDrop) {
                return try segmenter.split(UnsafeRawBufferPointer(rebasing: bytes[..<count]), resumingAt: resume, into: &batch)
            } catch {
                return nil  // dropped, and counted by the segmenter
            }
        }
        self.segmenter = segmenter
        return next
    }
}

/// Writes batches of plain IP packets to a TUN created with IFF_VNET_HDR, coalesced into
/// super-packets. Owned by the one thread that writes the TUN; its buffers are allocated once.
public struct OffloadWriter: Sendable {
    /// Super-packets built before they are written: 8 slots of 64 KiB.
    public static let outputSlots = 8

    /// What was merged, passed through and dropped so far.
    public var counters: OffloadCounters { coalescer.counters }
    private var coalescer: OffloadCoalescer
    private var output: PacketBatch

    /// A writer for a TUN whose packets start with a `headerSize`-byte virtio_net_hdr (10 or 12).
    public init(headerSize: Int = VirtioNetHeader.size, options: OffloadCoalescer.Options = .init()) {
        coalescer = OffloadCoalescer(headerSize: headerSize, options: options)
        output = PacketBatch(capacity: Self.outputSlots, slotSize: OffloadCoalescer.maximumSuperPacketLength)
    }

    /// Coalesces `batch` and writes the result to `descriptor`, one `write` per super-packet or
    /// passed-through packet.
    /// - Throws: `SystemError` from the first `write` that fails (EAGAIN on a full queue, EIO when the
    ///   interface is down, EINVAL for a packet the kernel refuses); what was not yet written is then
    ///   dropped, as a full queue would.
    /// The corresponding C function is `write`.
    public mutating func writePackets(_ batch: PacketBatch, to descriptor: Descriptor) throws(SystemError) {
        var next = 0
        while next < batch.count {
            output.removeAll()
            next = coalescer.coalesce(batch, from: next, into: &output)
            var written = 0
            while written < output.count {  // each call writes at least one or throws
                written += try descriptor.writePackets(output, from: written)
            }
        }
    }
}
