// PacketFlow.Channel: one data-plane thread's own handle on the TUN, with its own offload state
// (read buffer, pending segments, coalescer), so the hot path takes no lock. Also the reader and
// writer halves the flow's shared methods keep under their locks.

import CulvertSystem

extension PacketFlow {
    /// One thread's reads and writes of the flow. A value owned by that thread (copying it copies
    /// its buffers); on a plain TUN it only forwards to the flow.
    public struct Channel: Sendable {
        /// The flow this channel reads and writes.
        public let flow: PacketFlow
        private var reader: PacketFlowReader?
        private var writer: PacketFlowWriter?

        init(flow: PacketFlow, verifyChecksums: Bool = true) {
            self.flow = flow
            if flow.isOffloading {
                reader = PacketFlowReader(flow: flow)
                writer = PacketFlowWriter(flow: flow, verifyChecksums: verifyChecksums)
            }
        }

        /// As `PacketFlow.readPackets(into:timeout:)`, with this channel's state; returns at once
        /// when segments of an earlier super-packet are still pending.
        public mutating func readPackets(into batch: inout PacketBatch, timeout: Duration?) throws(SystemError) -> Int {
            guard reader != nil else { return try flow.readPackets(into: &batch, timeout: timeout) }
            // Paused, it waits even with segments pending (they are handed out after a failed handover).
            if flow.isPaused || !(reader?.hasPending ?? false) {
                guard try flow.waitForPackets(timeout: timeout) else { return 0 }
            }
            return try readAvailablePackets(into: &batch)
        }

        /// As `PacketFlow.readAvailablePackets(into:)`, with this channel's state.
        public mutating func readAvailablePackets(into batch: inout PacketBatch) throws(SystemError) -> Int {
            guard reader != nil else { return try flow.readAvailablePackets(into: &batch) }
            if flow.isPaused { return 0 }
            // Force unwrap: checked just above.
            return try reader!.readAvailablePackets(into: &batch)
        }

        /// As `PacketFlow.writePackets(_:)`, with this channel's state.
        @discardableResult
        public mutating func writePackets(_ batch: PacketBatch) throws(SystemError) -> Int {
            guard writer != nil else { return try flow.writePackets(batch) }
            // Force unwrap: checked just above.
            return try writer!.writePackets(batch)
        }

        /// Whether packets of a super-packet already read are waiting: a thread that waits on the
        /// TUN descriptor itself (e.g. together with a socket) must read again before it waits.
        public var hasPendingReads: Bool { reader?.hasPending ?? false }

        /// What this channel split, merged and dropped.
        public var counters: OffloadCounters {
            (reader?.counters ?? OffloadCounters()).adding(writer?.counters ?? OffloadCounters())
        }
    }
}

/// The read half of an offloading flow: an `OffloadReader` on the flow's descriptor.
struct PacketFlowReader: Sendable {
    let descriptor: Descriptor
    private var reader: OffloadReader

    init(flow: PacketFlow) {
        descriptor = flow.descriptor
        reader = OffloadReader(headerSize: flow.headerSize)
    }

    var hasPending: Bool { reader.hasPending }
    var counters: OffloadCounters { reader.counters }

    mutating func readAvailablePackets(into batch: inout PacketBatch) throws(SystemError) -> Int {
        try reader.readPackets(from: descriptor, into: &batch)
    }
}

/// The write half of an offloading flow: an `OffloadWriter` that merges UDP only if USO is in force,
/// verifying each packet's checksum before a merge unless the caller vouches for them.
struct PacketFlowWriter: Sendable {
    let descriptor: Descriptor
    private var writer: OffloadWriter

    init(flow: PacketFlow, verifyChecksums: Bool = true) {
        descriptor = flow.descriptor
        let udp = flow.offloads.contains(.udpV4) && flow.offloads.contains(.udpV6)
        writer = OffloadWriter(
            headerSize: flow.headerSize, options: OffloadCoalescer.Options(coalesceUDP: udp, verifyChecksums: verifyChecksums))
    }

    var counters: OffloadCounters { writer.counters }

    mutating func writePackets(_ batch: PacketBatch) throws(SystemError) -> Int {
        try writer.writePackets(batch, to: descriptor)
        return batch.count
    }
}
