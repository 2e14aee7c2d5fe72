// The offload engine's fuzz target: what a TUN with IFF_VNET_HDR returns (a virtio_net_hdr and an
// IP packet) through OffloadSegmenter, and its segments through OffloadCoalescer and back.
// Checks properties, so a wrong answer is found, not only a crash.

import CulvertSystem

enum OffloadFuzzTarget {
    /// Splitting never traps: a read is split or dropped with a reason. What splits, coalesced and
    /// split again, gives the same packets (no merged super-packet is dropped).
    static func virtioSplit(_ bytes: [UInt8]) {
        // No packet below is longer than the read itself (plus a header): small inputs, small slots.
        let slotSize = min(PacketBatch.maximumPacketSize, bytes.count + VirtioNetHeader.sizeWithBufferCount)
        var segmenter = OffloadSegmenter()
        var batch = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: slotSize)
        var produced: [[UInt8]] = []
        var next: Int? = 0
        while let resume = next {
            batch.removeAll()
            do { next = try segmenter.split(bytes[...], resumingAt: resume, into: &batch) } catch { return }  // dropped and counted
            produced += batch.map { Array($0) }
        }
        var coalescer = OffloadCoalescer(options: .init(coalesceUDP: true))
        var output = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: slotSize)
        var again: [[UInt8]] = []
        var start = 0
        while start < produced.count {
            batch.removeAll()
            for packet in produced[start..<min(start + batch.capacity, produced.count)] {
                _ = try? batch.append(packet)  // each came out of a slot of this size; cannot fail
            }
            start += batch.count
            output.removeAll()
            let taken = coalescer.coalesce(batch, into: &output)
            precondition(taken == batch.count, "coalescer left \(batch.count - taken) packets for an empty batch")
            precondition(coalescer.counters.totalDropped == 0, "coalescer dropped a packet: \(coalescer.counters)")
            for read in output {
                var pieces = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: slotSize)
                var step: Int? = 0
                while let resume = step {
                    pieces.removeAll()
                    do { step = try segmenter.split(read, resumingAt: resume, into: &pieces) } catch {
                        preconditionFailure("a coalesced super-packet was dropped: \(error)")
                    }
                    again += pieces.map { Array($0) }
                }
            }
        }
        precondition(again == produced, "split → coalesce → split changed the packets")
    }
}
