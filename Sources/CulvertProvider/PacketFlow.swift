// PacketFlow: the provider's side of its TUN interface (fd 3), read and written in batches — one
// packet per read(2)/write(2), as many as are ready per call. Meant for the provider's own
// data-plane threads: calls block only in `waitReadable` and never hold a lock.

import CulvertSystem
import Synchronization

/// Batches of packets, reused between calls (no allocation per packet).
public typealias PacketBatch = CulvertSystem.PacketBatch
/// A UDP socket for the tunnel's outer traffic; pass it to `Tunnel.protect` before using it.
public typealias DatagramSocket = CulvertSystem.DatagramSocket
/// An IP address and port, parsed from "10.0.0.1:51820" or "[fd00::1]:51820".
public typealias IPEndpoint = CulvertSystem.IPEndpoint
/// An eventfd that wakes a data-plane thread blocked in `waitReadable`.
public typealias WakeEvent = CulvertSystem.WakeEvent

public final class PacketFlow: Sendable {
    /// The TUN descriptor, non-blocking; for `waitReadable` together with other descriptors.
    public let descriptor: Descriptor
    /// Set between a prepared handover and its failure: the new version reads the TUN meanwhile.
    private let paused = Atomic<Bool>(false)
    /// Longest a paused `readPackets` waits before it returns nothing.
    static let pausedWait: Duration = .milliseconds(50)

    init(descriptor: Descriptor) {
        self.descriptor = descriptor
        // try?: fd 3 is culvertd's TUN; if it cannot be made non-blocking, reads block, which is still correct.
        try? descriptor.setNonblocking(true)
    }

    /// Waits up to `timeout` (nil: without limit) for packets, then appends as many as are ready
    /// to `batch`. Returns how many were appended (0 on timeout).
    /// While a handover is prepared (see `HandoverCapable`) it reads nothing and returns 0.
    public func readPackets(into batch: inout PacketBatch, timeout: Duration?) throws(SystemError) -> Int {
        if isPaused {
            _ = try Descriptor.waitReadable([], timeout: min(timeout ?? Self.pausedWait, Self.pausedWait))
            return 0
        }
        let ready = try Descriptor.waitReadable([descriptor], timeout: timeout)
        guard !ready.isEmpty else { return 0 }
        return try descriptor.readPackets(into: &batch)
    }

    /// Appends ready packets to `batch` without waiting.
    public func readAvailablePackets(into batch: inout PacketBatch) throws(SystemError) -> Int {
        if isPaused { return 0 }
        return try descriptor.readPackets(into: &batch)
    }

    /// Writes every packet of `batch` to the interface; returns how many the kernel took.
    @discardableResult
    public func writePackets(_ batch: PacketBatch) throws(SystemError) -> Int {
        try descriptor.writePackets(batch)
    }

    /// Whether reads are paused for a handover.
    public var isPaused: Bool { paused.load(ordering: .acquiring) }

    func setPaused(_ on: Bool) { paused.store(on, ordering: .releasing) }
}
