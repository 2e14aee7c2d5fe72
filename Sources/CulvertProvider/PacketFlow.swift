// PacketFlow: the provider's side of its TUN interface (fd 3), read and written in batches. On a
// plain TUN, one packet per read(2)/write(2), as many as are ready per call. On a TUN culvertd
// created with IFF_VNET_HDR (the bundle declared `tun-offload`), PacketFlow enables the offloads the
// kernel accepts, reads 64 KiB super-packets and hands out the individual packets, and coalesces
// written packets into super-packets: the provider sees plain IP packets either way. Meant for the
// provider's own data-plane threads: calls block only in `waitReadable`; per-thread offload state
// lives in a `PacketFlow.Channel` (no lock), the flow's own methods share one under a lock.

import CulvertSystem
import Synchronization

/// Batches of packets, reused between calls (no allocation per packet).
public typealias PacketBatch = CulvertSystem.PacketBatch
/// A UDP socket for the tunnel's outer traffic; pass it to `Tunnel.protect` before using it.
public typealias DatagramSocket = CulvertSystem.DatagramSocket
/// UDP_SEGMENT sends and UDP_GRO receives on a DatagramSocket, one per data-plane thread.
public typealias DatagramOffload = CulvertSystem.DatagramOffload
/// An IP address and port, parsed from "10.0.0.1:51820" or "[fd00::1]:51820".
public typealias IPEndpoint = CulvertSystem.IPEndpoint
/// An eventfd that wakes a data-plane thread blocked in `waitReadable`.
public typealias WakeEvent = CulvertSystem.WakeEvent
/// The TUN offloads (TUNSETOFFLOAD) in force on an offloading PacketFlow.
public typealias TunOffloads = CulvertSystem.TunOffloads
/// What the offload engine split, merged and dropped (by `OffloadDrop` reason).
public typealias OffloadCounters = CulvertSystem.OffloadCounters
/// Why the offload engine dropped a packet.
public typealias OffloadDrop = CulvertSystem.OffloadDrop

public final class PacketFlow: Sendable {
    /// The TUN descriptor, non-blocking; for `waitReadable` together with other descriptors.
    public let descriptor: Descriptor
    /// Whether the TUN carries a virtio_net_hdr (culvertd created it with IFF_VNET_HDR): then reads
    /// are split and writes coalesced. Learned from the descriptor itself (TUNGETIFF).
    public let isOffloading: Bool
    /// The offloads the kernel accepted (TUNSETOFFLOAD, feature by feature); empty without the header.
    public let offloads: TunOffloads
    /// The virtio_net_hdr length (TUNGETVNETHDRSZ is not asked: culvertd sets `VirtioNetHeader.size`).
    let headerSize: Int
    /// Set between a prepared handover and its failure: the new version reads the TUN meanwhile.
    private let paused = Atomic<Bool>(false)
    /// Longest a paused `readPackets` waits before it returns nothing.
    static let pausedWait: Duration = .milliseconds(50)
    /// The offload state of the flow's own read and write methods (made on first use).
    private let sharedReader = Mutex<PacketFlowReader?>(nil)
    private let sharedWriter = Mutex<PacketFlowWriter?>(nil)

    init(descriptor: Descriptor) {
        self.descriptor = descriptor
        // try?: fd 3 is culvertd's TUN; if it cannot be made non-blocking, reads block, which is still correct.
        try? descriptor.setNonblocking(true)
        // try?: a descriptor TUNGETIFF does not answer for is no virtio TUN: read and write it plainly, as always.
        isOffloading = (try? descriptor.tunHasVirtioHeader()) ?? false
        headerSize = VirtioNetHeader.size
        offloads = isOffloading ? descriptor.enableTunOffloads() : []
    }

    /// A channel of its own for one data-plane thread: its reads and writes take no lock and allocate
    /// nothing per packet. Make one per thread (each holds its own buffers: about 64 KiB to read,
    /// 600 KiB to write, when offloading) and keep it for the thread's life.
    public func makeChannel() -> Channel { Channel(flow: self) }

    /// `makeChannel()`, and with `authenticatedWrites`: every packet this channel writes was
    /// authenticated end to end (an AEAD tag over the whole packet, as WireGuard's transport data
    /// has), so the coalescer skips verifying each TCP/UDP checksum before merging (a pass over
    /// every byte). The kernel's own WireGuard marks decrypted packets CHECKSUM_UNNECESSARY for the
    /// same reason; a packet that passes through unmerged is still checked by the kernel.
    public func makeChannel(authenticatedWrites: Bool) -> Channel {
        Channel(flow: self, verifyChecksums: !authenticatedWrites)
    }

    /// Waits up to `timeout` (nil: without limit) for packets, then appends as many as are ready
    /// to `batch`. Returns how many were appended (0 on timeout).
    /// While a handover is prepared (see `HandoverCapable`) it reads nothing and returns 0.
    /// Offloading, the flow's shared reader is locked while reading: a thread of its own should
    /// use a `Channel` instead.
    public func readPackets(into batch: inout PacketBatch, timeout: Duration?) throws(SystemError) -> Int {
        guard isOffloading else {
            if isPaused {
                _ = try Descriptor.waitReadable([], timeout: min(timeout ?? Self.pausedWait, Self.pausedWait))
                return 0
            }
            let ready = try Descriptor.waitReadable([descriptor], timeout: timeout)
            guard !ready.isEmpty else { return 0 }
            return try descriptor.readPackets(into: &batch)
        }
        // Paused, it waits even with segments pending (they are handed out after a failed handover).
        if isPaused || !sharedReader.withLock({ $0?.hasPending ?? false }) {
            guard try waitForPackets(timeout: timeout) else { return 0 }
        }
        return try readAvailablePackets(into: &batch)
    }

    /// Appends ready packets to `batch` without waiting.
    public func readAvailablePackets(into batch: inout PacketBatch) throws(SystemError) -> Int {
        if isPaused { return 0 }
        guard isOffloading else { return try descriptor.readPackets(into: &batch) }
        return try sharedReader.withLock { (reader: inout PacketFlowReader?) throws(SystemError) -> Int in
            if reader == nil { reader = PacketFlowReader(flow: self) }
            // Force unwrap: set just above.
            return try reader!.readAvailablePackets(into: &batch)
        }
    }

    /// Writes every packet of `batch` to the interface; returns how many the kernel took (offloading:
    /// all of them, merged into as few writes as the flows allow, or it throws).
    @discardableResult
    public func writePackets(_ batch: PacketBatch) throws(SystemError) -> Int {
        guard isOffloading else { return try descriptor.writePackets(batch) }
        return try sharedWriter.withLock { (writer: inout PacketFlowWriter?) throws(SystemError) -> Int in
            if writer == nil { writer = PacketFlowWriter(flow: self) }
            // Force unwrap: set just above.
            return try writer!.writePackets(batch)
        }
    }

    /// What the flow's own read and write methods split, merged and dropped (channels count their own).
    public var counters: OffloadCounters {
        let read = sharedReader.withLock { $0?.counters ?? OffloadCounters() }
        let written = sharedWriter.withLock { $0?.counters ?? OffloadCounters() }
        return read.adding(written)
    }

    /// Whether reads are paused for a handover.
    public var isPaused: Bool { paused.load(ordering: .acquiring) }

    func setPaused(_ on: Bool) { paused.store(on, ordering: .releasing) }

    /// Waits for the TUN (or, paused, only up to `pausedWait`); true if it is readable and not paused.
    func waitForPackets(timeout: Duration?) throws(SystemError) -> Bool {
        if isPaused {
            _ = try Descriptor.waitReadable([], timeout: min(timeout ?? Self.pausedWait, Self.pausedWait))
            return false
        }
        // One descriptor: poll it directly (no array per call on the hot path).
        return try descriptor.waitReadable(timeoutMilliseconds: Self.milliseconds(timeout))
    }

    /// `timeout` as poll(2) milliseconds: -1 for nil, rounded up, at most Int32.max.
    static func milliseconds(_ timeout: Duration?) -> Int32 {
        guard let timeout else { return -1 }
        let (seconds, attoseconds) = timeout.components
        guard seconds >= 0 else { return 0 }
        let total = seconds.multipliedReportingOverflow(by: 1_000)
        let sub = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        guard !total.overflow else { return Int32.max }
        return Int32(clamping: total.partialValue &+ sub)
    }
}
