// PacketRelay: moves packets between a TUN and a connected UDP socket on two threads, one per
// direction, each packet one datagram. Each thread also waits on a WakeEvent so `stop` ends it
// within one wait.

import CulvertProvider
import CulvertSystem
import Dispatch
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

/// One thread's reads and writes of IP packets.
protocol PacketChannel {
    mutating func readAvailablePackets(into batch: inout PacketBatch) throws(SystemError) -> Int
    @discardableResult mutating func writePackets(_ batch: PacketBatch) throws(SystemError) -> Int
    /// What the offload engine split, merged and dropped (zero on a plain TUN).
    var counters: OffloadCounters { get }
}

/// Something that yields and takes IP packets: the SDK's PacketFlow, or a TUN the peer opened.
protocol PacketPort: Sendable {
    associatedtype Channel: PacketChannel
    var descriptor: Descriptor { get }
    /// Whether the TUN carries a virtio_net_hdr: then the relay also uses UDP GSO/GRO.
    var isOffloading: Bool { get }
    /// What TUNSETOFFLOAD accepted.
    var offloads: TunOffloads { get }
    func makeChannel() -> Channel
}

extension PacketFlow: PacketPort {}
extension PacketFlow.Channel: PacketChannel {}

/// The peer's own TUN: plain, or (created with IFF_VNET_HDR) through the SDK's offload engine.
struct TunPackets: PacketPort {
    let descriptor: Descriptor
    let isOffloading: Bool
    /// What TUNSETOFFLOAD accepted.
    let offloads: TunOffloads

    init(descriptor: Descriptor) {
        self.descriptor = descriptor
        // try?: a descriptor TUNGETIFF does not answer for is read plainly.
        isOffloading = (try? descriptor.tunHasVirtioHeader()) ?? false
        offloads = isOffloading ? descriptor.enableTunOffloads() : []
    }

    func makeChannel() -> TunChannel {
        let udp = offloads.contains(.udpV4) && offloads.contains(.udpV6)
        return TunChannel(
            descriptor: descriptor, reader: isOffloading ? OffloadReader() : nil,
            writer: isOffloading ? OffloadWriter(options: OffloadCoalescer.Options(coalesceUDP: udp)) : nil)
    }
}

struct TunChannel: PacketChannel {
    let descriptor: Descriptor
    var reader: OffloadReader?
    var writer: OffloadWriter?

    var counters: OffloadCounters { (reader?.counters ?? OffloadCounters()).adding(writer?.counters ?? OffloadCounters()) }

    mutating func readAvailablePackets(into batch: inout PacketBatch) throws(SystemError) -> Int {
        guard reader != nil else { return try descriptor.readPackets(into: &batch) }
        return try reader!.readPackets(from: descriptor, into: &batch)  // force unwrap: checked above
    }

    @discardableResult mutating func writePackets(_ batch: PacketBatch) throws(SystemError) -> Int {
        guard writer != nil else { return try descriptor.writePackets(batch) }
        try writer!.writePackets(batch, to: descriptor)  // force unwrap: checked above
        return batch.count
    }
}

final class PacketRelay: @unchecked Sendable {  // counters are guarded by `lock`; the rest is immutable
    /// Longest a relay thread waits before checking for stop again.
    static let waitSlice: Duration = .seconds(1)
    /// Packets per batch: enough to amortise syscalls, small enough to keep memory low.
    static let batchSize = 32
    /// Packets per batch with offloads: as many as one batched call moves, to merge as much as possible.
    static let offloadBatchSize = PacketBatch.maximumPacketCount
    /// Largest packet carried (the TUN MTU is at most this).
    static let slotSize = 16_384

    private let wake: WakeEvent
    private let lock = ThreadCondition()
    private var toPeer = 0
    private var fromPeer = 0
    private var stopped = false
    /// Left by each relay thread as it ends.
    private let finished = DispatchGroup()

    init(packets: some PacketPort, socket: DatagramSocket) throws {
        wake = try WakeEvent()
        try packets.descriptor.setNonblocking(true)
        try socket.setNonblocking(true)
        if packets.isOffloading {
            say("relay: TUN with virtio_net_hdr, offloads 0x\(String(packets.offloads.rawValue, radix: 16)), UDP GSO/GRO")
        }
        finished.enter()
        finished.enter()
        SystemThread.start(name: "relay-out") { [self] in
            pump(from: packets, to: socket)
            finished.leave()
        }
        SystemThread.start(name: "relay-in") { [self] in
            pump(from: socket, to: packets)
            finished.leave()
        }
    }

    var counts: (Int, Int) { lock.withLock { (toPeer, fromPeer) } }

    func stop() {
        lock.withLock { stopped = true }
        try? wake.signal()  // try?: an eventfd write only fails if the counter would overflow; the flag suffices
    }

    /// Stops and waits (bounded) until neither thread touches the TUN or the socket any more.
    func stopAndWait() {
        stop()
        _ = finished.wait(timeout: .now() + .seconds(3))
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    /// Logs what one direction's offloads did, as the thread ends (for benchmarks and failures).
    private func report(_ direction: String, _ tun: OffloadCounters, _ udp: DatagramOffload.Counters) {
        say(
            "relay \(direction) offloads: super-packets read \(tun.superPacketsSplit) written \(tun.superPacketsCoalesced), "
                + "TUN drops \(tun.totalDropped), UDP segmented sends \(udp.segmentedSends) coalesced receives \(udp.coalescedReceives) "
                + "drops \(udp.truncatedMessages + udp.malformedControl + udp.oversizedDatagrams)")
    }

    private func pump(from packets: some PacketPort, to socket: DatagramSocket) {
        var batch = PacketBatch(capacity: packets.isOffloading ? Self.offloadBatchSize : Self.batchSize, slotSize: Self.slotSize)
        var channel = packets.makeChannel()
        var udp = packets.isOffloading ? DatagramOffload(socket: socket, coalesceReceives: false) : nil
        defer { if let udp { report("out", channel.counters, udp.counters) } }
        while !isStopped {
            do throws(SystemError) {
                let ready = try Descriptor.waitReadable([packets.descriptor, wake.descriptor], timeout: Self.waitSlice)
                if ready.contains(1) { return }
                guard ready.contains(0) else { continue }
                repeat {  // a full batch may leave segments pending: drain before waiting again
                    batch.removeAll()
                    let n = try channel.readAvailablePackets(into: &batch)
                    if n > 0 {
                        if udp != nil {
                            _ = try udp!.send(batch)  // force unwrap: checked just above
                        } else {
                            _ = try socket.sendBatch(batch)
                        }
                        lock.withLock { toPeer += n }
                    }
                } while batch.isFull && !isStopped
            } catch {
                if error.isWouldBlock || error.errno == ECONNREFUSED { continue }  // the peer is not up yet
                say("relay out: \(error)")
                SystemThread.sleep(forTimeInterval: 0.01)
            }
        }
    }

    private func pump(from socket: DatagramSocket, to packets: some PacketPort) {
        var batch = PacketBatch(capacity: packets.isOffloading ? Self.offloadBatchSize : Self.batchSize, slotSize: Self.slotSize)
        var channel = packets.makeChannel()
        var udp = packets.isOffloading ? DatagramOffload(socket: socket, segmentSends: false) : nil
        defer { if let udp { report("in", channel.counters, udp.counters) } }
        while !isStopped {
            do throws(SystemError) {
                let ready = try Descriptor.waitReadable([socket.descriptor, wake.descriptor], timeout: Self.waitSlice)
                if ready.contains(1) { return }
                guard ready.contains(0) else { continue }
                repeat {  // a full batch may leave datagrams of a coalesced message pending
                    batch.removeAll()
                    // force unwrap: checked in the same expression.
                    let n = udp != nil ? try udp!.receive(into: &batch) : try socket.receiveBatch(into: &batch)
                    if n > 0 {
                        try channel.writePackets(batch)
                        lock.withLock { fromPeer += n }
                    }
                } while batch.isFull && !isStopped
            } catch {
                if error.isWouldBlock || error.errno == ECONNREFUSED { continue }
                say("relay in: \(error)")
                SystemThread.sleep(forTimeInterval: 0.01)
            }
        }
    }
}
