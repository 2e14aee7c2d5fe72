// DataPlane: the threads that move packets between the TUN (PacketFlow) and the UDP socket
// through the WireGuardDevice, and fire its timers. Hand-written: no library runs a WireGuardDevice.
//
//   tun-to-udp: PacketFlow.Channel read (batch; TSO super-packets split) → under the lock, per batch:
//               device.beginSend (route, counter) → outside: seal from the packet's slot
//               straight into the datagram batch's slot → UDP_SEGMENT sendmmsg (runs of one endpoint)
//   udp-to-tun: recvmmsg with UDP_GRO (batch, with senders) → under the lock: beginReceive
//               (pre-checks) → outside: open from the datagram's slot straight into the packet
//               batch → under the lock: finishReceive (counter, roaming, AllowedIPs; what it refuses
//               is taken out of the packet batch again) → Channel write (coalesced)
//               At most 16 handshake messages per batch are handled, the rest shed and counted, so
//               a flood cannot crowd transport data out of a batch; those with a valid mac1 feed the
//               device's load decision (many per 100 ms: under load for 1 s, cookie replies instead
//               of Diffie-Hellman).
//   timers:     sleeps until device.nextDeadline (at most `timerSlice`) → device.tick
//
// The device is one value behind one Mutex shared by the three threads, but the lock is held only
// for the bookkeeping of a batch (routing, counters, replay windows, timers), never for a seal or
// an open: those run on the session's shared AEAD context, which BoringSSL allows concurrently
// (Keypair.swift's header). So both packet threads seal and open at once. No packet is copied:
// the seal reads the TUN batch's slot and writes the datagram's, the open reads the datagram's slot
// and writes the TUN batch's (out of place; BoringSSL allows it). On a TUN with IFF_VNET_HDR (the
// bundle declares `tun-offload`) both threads use the offload engine: a PacketFlow.Channel each and
// a DatagramOffload each; the receive thread's channel skips the checksum pass before coalescing
// (`authenticatedWrites`: every packet it writes passed Poly1305).
// Every thread also waits on one WakeEvent, so `stop` ends all of them within one wait.

import CulvertProvider
import CulvertSystem
import Dispatch
import FoundationEssentials
import Synchronization
import WireGuardDevice

final class DataPlane: Sendable {
    /// Packets per batch on a plain TUN: amortises the system calls, keeps the buffers small.
    static let batchSize = 32
    /// Packets per batch with offloads: as many as one batched call moves (a 64 KiB super-packet
    /// of 1,420-byte segments is 47), so whole super-packets are sealed and segmented at once.
    static let offloadBatchSize = PacketBatch.maximumPacketCount
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
    /// Largest datagram received: a transport message of a `packetSlot` packet (a longer one cannot
    /// be written to this TUN; truncated or, with UDP_GRO, dropped and counted, it never authenticates).
    private let datagramSlot: Int

    init(device: WireGuardDevice, start: ContinuousClock.Instant, flow: PacketFlow, socket: DatagramSocket, mtu: Int) throws(SystemError) {
        self.device = Mutex(device)
        self.start = start
        self.flow = flow
        self.socket = socket
        packetSlot = min(max(mtu, 68), PacketBatch.maximumPacketSize)
        datagramSlot = min(Keypair.messageCount(forPacket: packetSlot), PacketBatch.maximumPacketSize)
        wake = try WakeEvent()
        try flow.descriptor.setNonblocking(true)
        try socket.setNonblocking(true)
        if flow.isOffloading {
            say("data plane: TUN with virtio_net_hdr, offloads 0x\(String(flow.offloads.rawValue, radix: 16)), UDP GSO/GRO")
        }
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
        SystemThread.start(name: name) { [self] in
            body(self)
            finished.leave()
        }
    }

    // MARK: TUN → UDP

    private func tunToUDP() {
        let capacity = flow.isOffloading ? Self.offloadBatchSize : Self.batchSize
        var channel = flow.makeChannel()
        var udp = flow.isOffloading ? DatagramOffload(socket: socket, coalesceReceives: false) : nil
        // Slots with room for the padding, which the seal zeroes in place before reading the packet.
        var packets = PacketBatch(capacity: capacity, slotSize: Keypair.paddedCount(packetSlot))
        var datagrams = PacketBatch(capacity: capacity, slotSize: Keypair.messageCount(forPacket: packetSlot))
        var reservations: [OutboundReservation] = []
        reservations.reserveCapacity(capacity)
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
                    reservations.removeAll(keepingCapacity: true)
                    _ = try channel.readAvailablePackets(into: &packets)
                    let time = now
                    device.withLock { device in
                        for index in packets.indices {
                            reservations.append(
                                packets.withUnsafePacket(at: index) { device.beginSend(packet: $0, now: time, using: &random) })
                        }
                    }
                    var destination: Endpoint?
                    var actions: [DeviceAction] = []
                    for (index, reservation) in reservations.enumerated() {
                        actions += reservation.actions
                        guard let ticket = reservation.ticket, let endpoint = reservation.endpoint else { continue }
                        if destination != endpoint, let previous = destination {
                            transmit(datagrams, to: previous, offload: &udp)
                            datagrams.removeAll()
                        }
                        destination = endpoint
                        packets.withUnsafeMutablePacket(at: index) { inner, length in
                            // try?: the slot holds messageCount(forPacket: packetSlot) bytes and the batch one slot per packet read;
                            // a refused seal loses the packet (its counter is skipped, which the peer's window allows).
                            _ = try? datagrams.appendInPlace { slot throws(TransportError) -> Int? in
                                try ticket.seal(packet: inner, packetCount: length, into: slot)  // no copy: out of place
                            }
                        }
                    }
                    if let destination { transmit(datagrams, to: destination, offload: &udp) }
                    perform(actions)
                } while packets.isFull && !isStopped
            } catch {
                if error.isWouldBlock { continue }
                sayError("tun-to-udp: \(error)")
                SystemThread.sleep(forTimeInterval: Self.errorPause)
            }
        }
    }

    // MARK: UDP → TUN

    private func udpToTUN() {
        let capacity = flow.isOffloading ? Self.offloadBatchSize : Self.batchSize
        // Every packet written was authenticated by its Poly1305 tag: no checksum pass before coalescing.
        var channel = flow.makeChannel(authenticatedWrites: true)
        var udp = flow.isOffloading ? DatagramOffload(socket: socket, segmentSends: false) : nil
        var datagrams = PacketBatch(capacity: capacity, slotSize: datagramSlot)
        var packets = PacketBatch(capacity: capacity, slotSize: datagramSlot)
        var senders: [IPEndpoint] = []
        var sources = SourceCache()
        var steps: [ReceiveStep?] = []  // nil: a sender that is no device endpoint (dropped)
        var results: [InboundResult?] = []
        var opened: [Result<Int, TransportError>] = []
        var placed: [Int?] = []  // per datagram: the packet batch slot it was opened into
        var refused: [Int] = []  // packet batch slots opened into but then refused by the device
        opened.reserveCapacity(capacity)
        placed.reserveCapacity(capacity)
        refused.reserveCapacity(capacity)
        senders.reserveCapacity(capacity)
        steps.reserveCapacity(capacity)
        results.reserveCapacity(capacity)
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
                    steps.removeAll(keepingCapacity: true)
                    results.removeAll(keepingCapacity: true)
                    // force unwrap: checked in the same expression.
                    _ =
                        udp != nil
                        ? try udp!.receive(into: &datagrams, senders: &senders)
                        : try socket.receiveBatch(into: &datagrams, senders: &senders)
                    let count = min(datagrams.count, senders.count)
                    let time = now
                    var handshakes = 0
                    device.withLock { device in  // pre-checks; handshake messages are handled whole here
                        for index in 0..<count {
                            guard let from = sources.endpoint(for: senders[index]) else {
                                steps.append(nil)
                                continue
                            }
                            steps.append(
                                datagrams.withUnsafePacket(at: index) { datagram -> ReceiveStep? in
                                    if WireGuardDevice.isHandshakeMessage(datagram) {  // the per-batch budget
                                        handshakes += 1
                                        guard handshakes <= WireGuardDevice.maximumHandshakesPerBatch else {
                                            device.shedHandshakes(1)
                                            return nil
                                        }
                                    }
                                    return device.beginReceive(
                                        datagram: datagram, count: datagram.count, from: from, now: time, using: &random)
                                })
                        }
                    }
                    opened.removeAll(keepingCapacity: true)
                    placed.removeAll(keepingCapacity: true)
                    for index in 0..<count {  // the AEAD work, with no lock held: opened straight into the TUN batch
                        guard case .open(let ticket)? = steps[index] else {
                            opened.append(.failure(.malformed))
                            placed.append(nil)
                            continue
                        }
                        var outcome: Result<Int, TransportError> = .failure(.malformed)
                        datagrams.withUnsafePacket(at: index) { datagram in
                            // try?: one packet slot per datagram, each as large as a datagram; a failed open appends nothing.
                            _ = try? packets.appendInPlace { slot -> Int? in
                                outcome = Result { () throws(TransportError) in try ticket.open(datagram, into: slot) }
                                return try? outcome.get()  // try?: nil appends nothing; the failure is kept in `outcome`
                            }
                        }
                        opened.append(outcome)
                        placed.append((try? outcome.get()) == nil ? nil : packets.count - 1)  // try?: success or not
                    }
                    device.withLock { device in  // counters, roaming, AllowedIPs
                        for index in 0..<count {
                            switch steps[index] {
                            case nil: results.append(nil)
                            case .done(let result)?: results.append(result)
                            case .open(let ticket)?:
                                // force unwrap: a step exists only for a sender that converted.
                                let from = sources.endpoint(for: senders[index])!
                                let length = datagrams.withUnsafePacket(at: index) { $0.count }
                                guard let slot = placed[index] else {  // the open failed: counted, nothing delivered
                                    results.append(
                                        device.finishReceive(
                                            ticket, opened: opened[index], plaintext: UnsafeRawBufferPointer(start: nil, count: 0),
                                            datagramCount: length, from: from, now: time, using: &random))
                                    continue
                                }
                                results.append(
                                    packets.withUnsafePacket(at: slot) {
                                        device.finishReceive(
                                            ticket, opened: opened[index], plaintext: $0, datagramCount: length, from: from, now: time,
                                            using: &random)
                                    })
                            }
                        }
                    }
                    var actions: [DeviceAction] = []
                    refused.removeAll(keepingCapacity: true)
                    for (index, result) in results.enumerated() {
                        guard let result else { continue }
                        actions += result.actions
                        guard let slot = placed[index] else { continue }
                        if let range = result.packet, !range.isEmpty, range.lowerBound == 0 {
                            packets.withUnsafeMutablePacket(at: slot) { _, length in length = range.count }  // padding cut off
                        } else {
                            refused.append(slot)  // a keepalive, a replay found late, a disallowed source, a malformed packet
                        }
                    }
                    for slot in refused.reversed() { packets.removePacket(at: slot) }
                    if !packets.isEmpty { _ = try channel.writePackets(packets) }
                    perform(actions)
                } while datagrams.isFull && !isStopped
            } catch {
                if error.isWouldBlock { continue }
                sayError("udp-to-tun: \(error)")
                SystemThread.sleep(forTimeInterval: Self.errorPause)
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

    /// Sends `batch` to `endpoint` with sendmmsg (through the offload: UDP_SEGMENT runs); what the
    /// socket refuses is lost, as on any UDP path.
    private func transmit(_ batch: PacketBatch, to endpoint: Endpoint, offload: inout DatagramOffload?) {
        guard !batch.isEmpty, let destination = Self.ipEndpoint(endpoint) else { return }
        var sent = 0
        while sent < batch.count {
            do throws(SystemError) {
                // force unwrap: checked in the same expression.
                let n =
                    offload != nil
                    ? try offload!.send(batch, from: sent, to: destination) : try socket.sendBatch(batch, from: sent, to: destination)
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

    static func ipEndpoint(_ endpoint: Endpoint) -> IPEndpoint? {
        let raw = ProfileMapping.raw(endpoint)
        return CulvertSystem.IPAddress(bytes: raw.address).map { IPEndpoint(address: $0, port: raw.port) }
    }
}

/// The device endpoint of each datagram's sender, converted once per distinct sender in a row (a
/// steady flow from one peer converts nothing per packet).
struct SourceCache {
    private var last: (IPEndpoint, Endpoint?)?

    mutating func endpoint(for sender: IPEndpoint) -> Endpoint? {
        if let last, last.0 == sender { return last.1 }
        let converted = ProfileMapping.endpoint(RawEndpoint(address: sender.address.bytes, port: sender.port))
        last = (sender, converted)
        return converted
    }
}
