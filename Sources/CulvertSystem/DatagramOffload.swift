// DatagramOffload: UDP segmentation offload for a tunnel's outer socket. Sending, consecutive
// equal-size datagrams to one destination leave in one sendmsg with UDP_SEGMENT (the kernel, or the
// NIC, cuts them); receiving, UDP_GRO hands over up to 64 KiB of coalesced datagrams per message,
// with their segment size in a control message, and this splits them back into a PacketBatch.
// Hand-written: no Swift library does UDP GSO/GRO (wireguard-go's conn/gso_linux.go and
// conn/bind_std.go were read to learn the kernel's conventions; nothing was copied).

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

/// Sends and receives `PacketBatch`es on one `DatagramSocket` with UDP_SEGMENT and UDP_GRO.
///
/// Owned by one data-plane thread (make one per thread): it holds its receive buffer (allocated
/// once, in `init`), the segments of a coalesced message not yet handed out, and whether send
/// offload is still in force. Once a `DatagramOffload` enabled UDP_GRO on a socket, read that
/// socket only through a `DatagramOffload`: a plain `receiveBatch` would see coalesced messages.
/// Everything the kernel hands over is checked: a cut message, a malformed UDP_GRO control message
/// or a segment longer than the batch's slots is dropped and counted, never trusted.
public struct DatagramOffload: Sendable {
    /// Coalesced messages one receive takes: each up to 64 KiB (512 KiB of buffer in all).
    public static let receiveMessages = 8
    /// The longest message received, and so a receive slot: the largest UDP payload.
    public static let receiveSlotSize = PacketBatch.maximumPacketSize
    /// The most datagrams one UDP_SEGMENT send carries (the kernel's UDP_MAX_SEGMENTS on older kernels).
    public static let maximumSegmentsPerSend = 64
    /// The most payload bytes one UDP_SEGMENT send carries: 64 KiB less IPv6 and UDP headers.
    public static let maximumSegmentedPayload = 65_535 - 40 - 8

    /// What the offload did and dropped so far.
    public struct Counters: Sendable, Hashable {
        /// Sends of two or more datagrams in one UDP_SEGMENT message, and the datagrams they carried.
        public var segmentedSends: UInt64 = 0
        public var datagramsSentSegmented: UInt64 = 0
        /// Batches sent the plain way after the kernel refused UDP_SEGMENT (EIO turns it off for
        /// good; EINVAL, e.g. a datagram beyond the path MTU, only for that batch).
        public var segmentationFallbacks: UInt64 = 0
        /// Received messages of two or more coalesced datagrams, and the datagrams split out of them.
        public var coalescedReceives: UInt64 = 0
        public var datagramsSplit: UInt64 = 0
        /// Dropped: messages cut short (longer than a receive slot, or their control data cut).
        public var truncatedMessages: UInt64 = 0
        /// Dropped: messages whose UDP_GRO control message was malformed (wrong length, size ≤ 0).
        public var malformedControl: UInt64 = 0
        /// Dropped: datagrams longer than the batch's slots.
        public var oversizedDatagrams: UInt64 = 0

        public init() {}
    }

    /// The socket.
    public let socket: DatagramSocket
    /// Whether sends still use UDP_SEGMENT (false from the start if the kernel lacks it, and after an EIO).
    public private(set) var sendsSegmented: Bool
    /// Whether UDP_GRO was accepted on the socket.
    public let receivesCoalesced: Bool
    public private(set) var counters = Counters()
    /// Datagrams longer than this are never grouped: the path refused UDP_SEGMENT messages of
    /// such segments (EINVAL/EMSGSIZE: beyond its MTU).
    public private(set) var segmentSizeLimit = DatagramOffload.maximumSegmentedPayload
    /// Test hook: makes the next segmented send fail as if the kernel returned EIO.
    var failNextSegmentedSendWithEIO = false

    var receive: DatagramReceiveBuffer

    /// Probes UDP_SEGMENT and enables UDP_GRO on `socket` (each only if asked for and the kernel
    /// accepts it; check `sendsSegmented` and `receivesCoalesced`).
    /// The corresponding C functions are `getsockopt(UDP_SEGMENT)` and `setsockopt(UDP_GRO)`.
    public init(socket: DatagramSocket, segmentSends: Bool = true, coalesceReceives: Bool = true) {
        self.socket = socket
        let fd = socket.descriptor.rawValue
        // try?: a kernel without UDP_SEGMENT / UDP_GRO answers ENOPROTOOPT; the socket then works without them.
        sendsSegmented = segmentSends && (try? Syscall.call("getsockopt(UDP_SEGMENT)") { culvert_udp_probe_segment(fd) }) != nil
        receivesCoalesced = coalesceReceives && (try? Syscall.call("setsockopt(UDP_GRO)") { culvert_udp_set_gro(fd, 1) }) != nil
        receive = DatagramReceiveBuffer(messages: Self.receiveMessages, slotSize: Self.receiveSlotSize)
    }

    /// Sends the batch's packets from `startIndex` on to `destination` (or the connected peer), each
    /// one datagram, in one system call: runs of equal-size datagrams (the last of a run may be shorter)
    /// go as one UDP_SEGMENT message. Returns how many datagrams were sent, as `sendBatch` does; send
    /// the rest from `startIndex + sent`.
    /// - Throws: `SystemError` if not even the first could be sent (EAGAIN, ECONNREFUSED, EMSGSIZE, …).
    /// The corresponding C function is `sendmmsg` (with UDP_SEGMENT control messages).
    public mutating func send(_ batch: PacketBatch, from startIndex: Int = 0, to destination: IPEndpoint? = nil) throws(SystemError) -> Int
    {
        precondition(startIndex >= 0 && startIndex <= batch.count, "start index \(startIndex) out of range 0...\(batch.count)")
        guard startIndex < batch.count else { return 0 }
        guard sendsSegmented else { return try socket.sendBatch(batch, from: startIndex, to: destination) }
        var refusedSize: Int?
        do throws(SystemError) {
            if failNextSegmentedSendWithEIO {
                failNextSegmentedSendWithEIO = false
                throw SystemError(call: "sendmmsg(UDP_SEGMENT)", errno: Glibc.EIO)
            }
            let (sent, datagrams) = try sendSegmented(batch, from: startIndex, to: destination, refusedSize: &refusedSize)
            counters.segmentedSends &+= UInt64(sent.messages)
            counters.datagramsSentSegmented &+= UInt64(sent.segmented)
            return datagrams
        } catch {
            let refusedByPath = error.errno == Syscall.EINVAL || error.errno == Syscall.EMSGSIZE
            guard error.errno == Glibc.EIO || (refusedByPath && refusedSize != nil) else { throw error }
            if error.errno == Glibc.EIO { sendsSegmented = false }
            // EINVAL/EMSGSIZE for a UDP_SEGMENT message: its segments plus headers exceed the path MTU (a
            // plain send fragments instead). Segments of that size or more are sent plainly from now on.
            if refusedByPath, let size = refusedSize { segmentSizeLimit = Swift.min(segmentSizeLimit, size - 1) }
            counters.segmentationFallbacks &+= 1
            return try socket.sendBatch(batch, from: startIndex, to: destination)
        }
    }

    /// Receives into the batch's free slots: datagrams left over from the last call first, then (if
    /// none were) one `recvmmsg` of up to `receiveMessages` messages, each split into its datagrams.
    /// Datagrams that do not fit stay for the next call. Returns how many were appended (0 when every
    /// message received was dropped).
    /// - Throws: `SystemError` (EAGAIN on a non-blocking socket with nothing queued; ENOBUFS if the batch is full).
    /// The corresponding C function is `recvmmsg` with MSG_WAITFORONE.
    public mutating func receive(into batch: inout PacketBatch) throws(SystemError) -> Int {
        var unused: [IPEndpoint] = []  // an empty array literal allocates nothing
        return try receive(into: &batch, senders: &unused, recordSenders: false)
    }

    /// As `receive(into:)`, and appends each appended datagram's sender to `senders`. Reuses one
    /// endpoint value while the sender repeats, so a steady flow allocates nothing (keep `senders`'
    /// capacity with `removeAll(keepingCapacity: true)`).
    public mutating func receive(into batch: inout PacketBatch, senders: inout [IPEndpoint]) throws(SystemError) -> Int {
        try receive(into: &batch, senders: &senders, recordSenders: true)
    }

    private mutating func receive(
        into batch: inout PacketBatch, senders: inout [IPEndpoint], recordSenders: Bool
    ) throws(SystemError) -> Int {
        let before = batch.count
        if receive.hasPending {
            receive.drain(into: &batch, senders: &senders, recordSenders: recordSenders, counters: &counters)
            if batch.count > before || batch.isFull { return batch.count - before }
        }
        guard !batch.isFull else { throw SystemError(call: "recvmmsg", errno: Glibc.ENOBUFS) }
        try receive.fill(from: socket, recordSenders: recordSenders)
        receive.drain(into: &batch, senders: &senders, recordSenders: recordSenders, counters: &counters)
        return batch.count - before
    }

    /// Groups the batch from `startIndex` into UDP_SEGMENT messages and sends them in one call.
    /// Returns what was sent (messages, datagrams in multi-datagram messages) and the datagrams sent.
    /// On failure `refusedSize` is the segment size of the first message if it was a UDP_SEGMENT one.
    private func sendSegmented(
        _ batch: PacketBatch, from startIndex: Int, to destination: IPEndpoint?, refusedSize: inout Int?
    ) throws(SystemError) -> (sent: (messages: Int, segmented: Int), datagrams: Int) {
        if let destination, destination.family != socket.family {
            throw SystemError(call: "sendmmsg", errno: Glibc.EAFNOSUPPORT, path: destination.description)
        }
        let family = destination?.family.addressFamily ?? 0
        let address = destination?.address.bytes ?? []
        let port = destination?.port ?? 0
        let fd = socket.descriptor.rawValue
        let slotSize = batch.slotSize
        let count = batch.count
        let capacity = PacketBatch.maximumPacketCount
        return try withUnsafeTemporaryAllocation(of: Int32.self, capacity: 2 * capacity) { plan throws(SystemError) in
            try withUnsafeTemporaryAllocation(of: UInt16.self, capacity: capacity) { sizes throws(SystemError) in
                // baseAddress! : both allocations hold `capacity` >= 1 elements.
                let firsts = plan.baseAddress!
                let segments = plan.baseAddress! + capacity
                let limit = segmentSizeLimit
                let messages = batch.withUnsafePackets { _, lengths in
                    // sizes.baseAddress! : the allocation holds `capacity` >= 1 elements.
                    Self.plan(
                        lengths: lengths, from: startIndex, count: count, firsts: firsts, segments: segments, sizes: sizes.baseAddress!,
                        segmentSizeLimit: limit)
                }
                let sent: Int32
                do throws(SystemError) {
                    sent = try batch.withUnsafePackets { bytes, lengths throws(SystemError) in
                        // baseAddress! : the batch's buffers are non-empty (capacity >= 1).
                        try Syscall.call("sendmmsg(UDP_SEGMENT)") {
                            culvert_udp_send_segmented(
                                fd, bytes.baseAddress!, slotSize, lengths.baseAddress!, firsts, segments, sizes.baseAddress!,
                                Int32(messages), family, address, port)
                        }
                    }
                } catch {
                    refusedSize = segments[0] > 1 ? Int(sizes[0]) : nil
                    throw error
                }
                var datagrams = 0
                var segmented = 0
                var multi = 0
                for message in 0..<Int(sent) {
                    let n = Int(segments[message])
                    datagrams += n
                    if n > 1 {
                        segmented += n
                        multi += 1
                    }
                }
                return ((multi, segmented), datagrams)
            }
        }
    }

    /// Cuts `lengths[start..<count]` into messages: a run of equal, non-zero lengths (its last may be
    /// shorter) within `maximumSegmentsPerSend` and `maximumSegmentedPayload`, of segments no longer
    /// than `segmentSizeLimit` (longer datagrams go one per message). Returns the message count.
    static func plan(
        lengths: UnsafeBufferPointer<Int>, from start: Int, count: Int, firsts: UnsafeMutablePointer<Int32>,
        segments: UnsafeMutablePointer<Int32>, sizes: UnsafeMutablePointer<UInt16>, segmentSizeLimit: Int = maximumSegmentedPayload
    ) -> Int {
        var messages = 0
        var index = start
        while index < count {
            let size = lengths[index]
            var run = 1
            var total = size
            if size > 0 && size <= Swift.min(segmentSizeLimit, maximumSegmentedPayload) {
                while index + run < count, run < maximumSegmentsPerSend {
                    let next = lengths[index + run]
                    guard next > 0, next <= size, total + next <= maximumSegmentedPayload else { break }
                    run += 1
                    total += next
                    if next < size { break }  // a shorter datagram ends the run
                }
            }
            firsts[messages] = Int32(index)
            segments[messages] = Int32(run)
            sizes[messages] = UInt16(clamping: size)
            messages += 1
            index += run
        }
        return messages
    }
}
