// DataPlane: the threads that move packets between the TUN (PacketFlow) and the UDP socket
// through the WireGuardDevice, and fire its timers. Hand-written: no library runs a WireGuardDevice.
//
//   tun-to-udp: PacketFlow.Channel read (batch) → device.send → sendmmsg (runs of one endpoint)
//   udp-to-tun: recvmmsg (batch, with senders) → device.receive → PacketFlow.Channel write (batch)
//   timers:     sleeps until device.nextDeadline (at most `timerSlice`) → device.tick
//
// The device is one value behind one Mutex shared by the three threads: correct first, and the
// lock is held for a packet's seal or open. Per-peer sharding (keypairs out of the device, sealed
// and opened outside the lock, one channel per core) is the next step for speed.
// Every thread also waits on one WakeEvent, so `stop` ends all of them within one wait.

import CulvertProvider
import CulvertSystem
import Dispatch
import Foundation
import Synchronization
import WireGuardDevice

final class DataPlane: Sendable {
    /// Packets per batch: amortises the system calls, keeps the buffers small.
    static let batchSize = 32
    /// Largest datagram read from the socket (bigger ones are truncated and then fail to authenticate).
    static let datagramSlot = PacketBatch.maximumPacketSize
    /// Longest a packet thread waits before looking at the stop flag again.
    static let waitSlice: Duration = .seconds(1)
    /// Longest the timer thread sleeps: bounds how late a deadline set meanwhile by another thread fires.
    static let timerSlice: Duration = .milliseconds(100)
    /// How long `stop` waits for the threads to end.
    static let stopDeadline: DispatchTimeInterval = .seconds(3)
    /// Pause after an unexpected socket or TUN error, so a persistent one does not spin.
    static let errorPause = 0.01
    /// Shortest timer wait: a deadline a tick did not move cannot make the timer thread spin.
    static let minimumTimerWait: Duration = .milliseconds(1)
    /// At most one error line per this interval (a send failing for every packet must not flood the session log).
    static let errorLogInterval: Duration = .seconds(1)

    let device: Mutex<WireGuardDevice>
    private let flow: PacketFlow
    private let socket: DatagramSocket
    private let wake: WakeEvent
    private let stopped = Atomic<Bool>(false)
    /// When an error was last logged, and how many were not logged since.
    private let errorLog = Mutex<(last: ContinuousClock.Instant?, suppressed: Int)>((nil, 0))
    private let finished = DispatchGroup()
    private let start: ContinuousClock.Instant
    /// Largest inner packet read from the TUN (its MTU, bounded by an IP packet's size).
    private let packetSlot: Int

    init(device: WireGuardDevice, start: ContinuousClock.Instant, flow: PacketFlow, socket: DatagramSocket, mtu: Int) throws(SystemError) {
        self.device = Mutex(device)
        self.start = start
        self.flow = flow
        self.socket = socket
        packetSlot = min(max(mtu, 68), PacketBatch.maximumPacketSize)
        wake = try WakeEvent()
        try flow.descriptor.setNonblocking(true)
        try socket.setNonblocking(true)
        launch("wg-tun-to-udp") { $0.tunToUDP() }
        launch("wg-udp-to-tun") { $0.udpToTUN() }
        launch("wg-timers") { $0.timers() }
    }

    /// The device's clock: monotonic time since the provider started.
    var now: Duration { start.duration(to: .now) }

    private var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// Stops the threads and waits (bounded) until none touches the TUN, the socket or the device;
    /// false if one was still running at the deadline (a handover must not export then).
    @discardableResult
    func stop() -> Bool {
        stopped.store(true, ordering: .releasing)
        try? wake.signal()  // try?: an eventfd write only fails if the counter would overflow; the flag suffices
        return finished.wait(timeout: .now() + Self.stopDeadline) == .success
    }

    private func launch(_ name: String, _ body: @escaping @Sendable (DataPlane) -> Void) {
        finished.enter()
        let thread = Thread { [self] in
            body(self)
            finished.leave()
        }
        thread.name = name
        thread.start()
    }

    // MARK: TUN → UDP

    private func tunToUDP() {
        var channel = flow.makeChannel()
        var packets = PacketBatch(capacity: Self.batchSize, slotSize: packetSlot)
        var datagrams = PacketBatch(capacity: Self.batchSize, slotSize: Keypair.messageCount(forPacket: packetSlot))
        var scratch = [UInt8](repeating: 0, count: Keypair.messageCount(forPacket: packetSlot))
        var random = SystemRandomNumberGenerator()
        while !isStopped {
            do throws(SystemError) {
                if !channel.hasPendingReads {
                    let ready = try Descriptor.waitReadable([flow.descriptor, wake.descriptor], timeout: Self.waitSlice)
                    if ready.contains(1) { return }
                    guard ready.contains(0) else { continue }
                }
                repeat {  // a full batch may leave packets in the kernel or the channel: drain before waiting
                    packets.removeAll()
                    datagrams.removeAll()
                    _ = try channel.readAvailablePackets(into: &packets)
                    var destination: Endpoint?
                    var actions: [DeviceAction] = []
                    for packet in packets {
                        let count = packet.count
                        let result = scratch.withUnsafeMutableBytes { buffer in
                            Self.copy(packet, into: buffer, at: WireGuardDevice.headroom)
                            return device.withLock { $0.send(packet: buffer, packetCount: count, now: now, using: &random) }
                        }
                        actions += result.actions
                        guard let sealed = result.messageCount, let endpoint = result.endpoint else { continue }
                        if destination != endpoint, let previous = destination {
                            transmit(datagrams, to: previous)
                            datagrams.removeAll()
                        }
                        destination = endpoint
                        try? datagrams.append(scratch[0..<sealed])  // try?: the slot holds messageCount(forPacket: slot) bytes
                    }
                    if let destination { transmit(datagrams, to: destination) }
                    perform(actions)
                } while packets.isFull && !isStopped
            } catch {
                if error.isWouldBlock { continue }
                sayError("tun-to-udp: \(error)")
                Thread.sleep(forTimeInterval: Self.errorPause)
            }
        }
    }

    // MARK: UDP → TUN

    private func udpToTUN() {
        var channel = flow.makeChannel()
        var datagrams = PacketBatch(capacity: Self.batchSize, slotSize: Self.datagramSlot)
        var packets = PacketBatch(capacity: Self.batchSize, slotSize: Self.datagramSlot)
        var senders: [IPEndpoint] = []
        var scratch = [UInt8](repeating: 0, count: Self.datagramSlot)
        var random = SystemRandomNumberGenerator()
        while !isStopped {
            do throws(SystemError) {
                let ready = try Descriptor.waitReadable([socket.descriptor, wake.descriptor], timeout: Self.waitSlice)
                if ready.contains(1) { return }
                guard ready.contains(0) else { continue }
                repeat {
                    datagrams.removeAll()
                    packets.removeAll()
                    senders.removeAll(keepingCapacity: true)
                    _ = try socket.receiveBatch(into: &datagrams, senders: &senders)
                    var actions: [DeviceAction] = []
                    for index in 0..<min(datagrams.count, senders.count) {
                        let sender = senders[index]
                        guard let from = ProfileMapping.endpoint(RawEndpoint(address: sender.address.bytes, port: sender.port)) else {
                            continue
                        }
                        let datagram = datagrams[index]
                        let count = datagram.count
                        let result = scratch.withUnsafeMutableBytes { buffer in
                            Self.copy(datagram, into: buffer, at: 0)
                            return device.withLock { $0.receive(datagram: buffer, count: count, from: from, now: now, using: &random) }
                        }
                        actions += result.actions
                        if let range = result.packet, !range.isEmpty {
                            try? packets.append(scratch[range])  // try?: the range is inside a datagram no larger than the slot
                        }
                    }
                    if !packets.isEmpty { _ = try channel.writePackets(packets) }
                    perform(actions)
                } while datagrams.isFull && !isStopped
            } catch {
                if error.isWouldBlock { continue }
                sayError("udp-to-tun: \(error)")
                Thread.sleep(forTimeInterval: Self.errorPause)
            }
        }
    }

    // MARK: timers

    private func timers() {
        var random = SystemRandomNumberGenerator()
        while !isStopped {
            let deadline = device.withLock { $0.nextDeadline }
            var wait = Self.timerSlice
            if let deadline { wait = max(Self.minimumTimerWait, min(deadline - now, Self.timerSlice)) }
            // try?: a failed wait just ticks early, which fires nothing before its deadline.
            if let ready = try? Descriptor.waitReadable([wake.descriptor], timeout: wait), ready.contains(0) { return }
            perform(device.withLock { $0.tick(now: now, using: &random) })
        }
    }

    // MARK: output

    /// Sends `batch` to `endpoint` with sendmmsg; what the socket refuses is lost, as on any UDP path.
    private func transmit(_ batch: PacketBatch, to endpoint: Endpoint) {
        guard !batch.isEmpty, let destination = Self.ipEndpoint(endpoint) else { return }
        var sent = 0
        while sent < batch.count {
            do throws(SystemError) {
                let n = try socket.sendBatch(batch, from: sent, to: destination)
                guard n > 0 else { return }
                sent += n
            } catch {
                if !error.isWouldBlock { sayError("send to \(destination): \(error)") }
                return
            }
        }
    }

    /// Handshake messages, keepalives and flushed queues go out one by one; the rest is logged.
    private func perform(_ actions: [DeviceAction]) {
        for action in actions {
            switch action {
            case .send(let bytes, let endpoint):
                guard let destination = Self.ipEndpoint(endpoint) else { continue }
                do throws(SystemError) {
                    _ = try socket.send(bytes, to: destination)
                } catch {
                    if !error.isWouldBlock { sayError("send to \(destination): \(error)") }
                }
            case .keysZeroed(let peer):
                say("peer \(StatusReport.base64(peer)): keys zeroed after 3 × REJECT_AFTER_TIME without a handshake")
            case .handshakeGaveUp(let peer, let dropped):
                say("peer \(StatusReport.base64(peer)): handshake gave up, \(dropped) queued packets dropped")
            }
        }
    }

    /// Logs `text` unless an error was logged less than `errorLogInterval` ago (then counts it).
    private func sayError(_ text: String) {
        let suppressed: Int? = errorLog.withLock { state in
            let now = ContinuousClock.now
            if let last = state.last, last.duration(to: now) < Self.errorLogInterval {
                state.suppressed += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.suppressed
        }
        guard let suppressed else { return }
        say(suppressed > 0 ? "\(text) (\(suppressed) more errors not logged)" : text)
    }

    /// Copies `bytes` into `buffer` at `offset`; the scratch buffers are sized for the largest slot.
    private static func copy(_ bytes: ArraySlice<UInt8>, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        precondition(offset + bytes.count <= buffer.count, "a scratch buffer is smaller than a batch slot")
        bytes.withUnsafeBytes { source in
            UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<offset + source.count]).copyMemory(from: source)
        }
    }

    static func ipEndpoint(_ endpoint: Endpoint) -> IPEndpoint? {
        let raw = ProfileMapping.raw(endpoint)
        return CulvertSystem.IPAddress(bytes: raw.address).map { IPEndpoint(address: $0, port: raw.port) }
    }
}
