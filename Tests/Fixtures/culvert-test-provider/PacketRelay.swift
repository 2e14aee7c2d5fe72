// PacketRelay: moves packets between a TUN and a connected UDP socket on two threads, one per
// direction, each packet one datagram. Each thread also waits on a WakeEvent so `stop` ends it
// within one wait.

import CulvertProvider
import CulvertSystem
import Dispatch
import Foundation

/// Something that yields and takes IP packets: the SDK's PacketFlow, or a TUN the peer opened.
protocol PacketPort: Sendable {
    var descriptor: Descriptor { get }
    func readAvailablePackets(into batch: inout PacketBatch) throws(SystemError) -> Int
    @discardableResult func writePackets(_ batch: PacketBatch) throws(SystemError) -> Int
}

extension PacketFlow: PacketPort {}

/// The peer's own TUN.
struct TunPackets: PacketPort {
    let descriptor: Descriptor
    func readAvailablePackets(into batch: inout PacketBatch) throws(SystemError) -> Int { try descriptor.readPackets(into: &batch) }
    @discardableResult func writePackets(_ batch: PacketBatch) throws(SystemError) -> Int { try descriptor.writePackets(batch) }
}

final class PacketRelay: @unchecked Sendable {  // counters are guarded by `lock`; the rest is immutable
    /// Longest a relay thread waits before checking for stop again.
    static let waitSlice: Duration = .seconds(1)
    /// Packets per batch: enough to amortise syscalls, small enough to keep memory low.
    static let batchSize = 32
    /// Largest packet carried (the TUN MTU is at most this).
    static let slotSize = 16_384

    private let wake: WakeEvent
    private let lock = NSLock()
    private var toPeer = 0
    private var fromPeer = 0
    private var stopped = false
    /// Left by each relay thread as it ends.
    private let finished = DispatchGroup()

    init(packets: some PacketPort, socket: DatagramSocket) throws {
        wake = try WakeEvent()
        try packets.descriptor.setNonblocking(true)
        try socket.setNonblocking(true)
        let outbound = Thread { [self] in
            pump(from: packets, to: socket)
            finished.leave()
        }
        let inbound = Thread { [self] in
            pump(from: socket, to: packets)
            finished.leave()
        }
        outbound.name = "relay-out"
        inbound.name = "relay-in"
        finished.enter()
        finished.enter()
        outbound.start()
        inbound.start()
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

    private func pump(from packets: some PacketPort, to socket: DatagramSocket) {
        var batch = PacketBatch(capacity: Self.batchSize, slotSize: Self.slotSize)
        while !isStopped {
            do {
                let ready = try Descriptor.waitReadable([packets.descriptor, wake.descriptor], timeout: Self.waitSlice)
                if ready.contains(1) { return }
                guard ready.contains(0) else { continue }
                batch.removeAll()
                let n = try packets.readAvailablePackets(into: &batch)
                if n > 0 {
                    _ = try socket.sendBatch(batch)
                    lock.withLock { toPeer += n }
                }
            } catch {
                if error.isWouldBlock || error.errno == ECONNREFUSED { continue }  // the peer is not up yet
                say("relay out: \(error)")
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
    }

    private func pump(from socket: DatagramSocket, to packets: some PacketPort) {
        var batch = PacketBatch(capacity: Self.batchSize, slotSize: Self.slotSize)
        while !isStopped {
            do {
                let ready = try Descriptor.waitReadable([socket.descriptor, wake.descriptor], timeout: Self.waitSlice)
                if ready.contains(1) { return }
                guard ready.contains(0) else { continue }
                batch.removeAll()
                let n = try socket.receiveBatch(into: &batch)
                if n > 0 {
                    try packets.writePackets(batch)
                    lock.withLock { fromPeer += n }
                }
            } catch {
                if error.isWouldBlock || error.errno == ECONNREFUSED { continue }
                say("relay in: \(error)")
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
    }
}
