// DatagramReceiveBuffer: DatagramOffload's receive side — one recvmmsg of coalesced (UDP_GRO)
// messages into a buffer allocated once, then split into a PacketBatch's slots, keeping what did
// not fit for the next call. Everything the kernel wrote is checked before it is used: lengths
// against the slot, the segment size from the control message against the length.

import CCulvert

/// The messages of one `recvmmsg` and how far they were handed out. Owned by one `DatagramOffload`.
struct DatagramReceiveBuffer: Sendable {
    let slotSize: Int
    /// `messages` slots of `slotSize` bytes.
    private var storage: [UInt8]
    private var lengths: [Int]
    private var truncated: [UInt8]
    private var segmentSizes: [Int32]
    private var families: [Int32]
    private var addresses: [UInt8]
    private var ports: [UInt16]
    /// Messages received by the last fill, the message being handed out and the offset within it.
    private var received = 0
    private var message = 0
    private var offset = 0
    /// The last sender handed out, kept so a repeating sender costs no allocation.
    private var lastSender: IPEndpoint?
    private var lastSenderKey: (family: Int32, port: UInt16, high: UInt64, low: UInt64) = (0, 0, 0, 0)

    init(messages: Int, slotSize: Int) {
        self.slotSize = slotSize
        storage = [UInt8](repeating: 0, count: messages * slotSize)
        lengths = [Int](repeating: 0, count: messages)
        truncated = [UInt8](repeating: 0, count: messages)
        segmentSizes = [Int32](repeating: 0, count: messages)
        families = [Int32](repeating: 0, count: messages)
        addresses = [UInt8](repeating: 0, count: 16 * messages)
        ports = [UInt16](repeating: 0, count: messages)
    }

    var hasPending: Bool { message < received }

    /// Receives up to `lengths.count` messages (only when nothing is pending).
    mutating func fill(from socket: DatagramSocket, recordSenders: Bool) throws(SystemError) {
        precondition(!hasPending, "received again before the last messages were handed out")
        let fd = socket.descriptor.rawValue
        let slotSize = slotSize
        let count = Int32(lengths.count)
        let result: Result<Int32, SystemError> = storage.withUnsafeMutableBytes { bytes in
            lengths.withUnsafeMutableBufferPointer { lengths in
                truncated.withUnsafeMutableBufferPointer { truncated in
                    segmentSizes.withUnsafeMutableBufferPointer { sizes in
                        families.withUnsafeMutableBufferPointer { families in
                            addresses.withUnsafeMutableBufferPointer { addresses in
                                ports.withUnsafeMutableBufferPointer { ports in
                                    do throws(SystemError) {
                                        // baseAddress! : every buffer holds `messages` >= 1 entries.
                                        return .success(
                                            try Syscall.call("recvmmsg(UDP_GRO)") {
                                                culvert_udp_receive_coalesced(
                                                    fd, bytes.baseAddress!, slotSize, lengths.baseAddress!, truncated.baseAddress!,
                                                    sizes.baseAddress!, count, recordSenders ? families.baseAddress! : nil,
                                                    addresses.baseAddress!, ports.baseAddress!)
                                            })
                                    } catch {
                                        return .failure(error)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let n = try result.get()
        received = Int(n)
        message = 0
        offset = 0
    }

    /// Hands out pending datagrams into `batch`'s free slots until it is full or nothing is pending.
    mutating func drain(
        into batch: inout PacketBatch, senders: inout [IPEndpoint], recordSenders: Bool, counters: inout DatagramOffload.Counters
    ) {
        while message < received && !batch.isFull {
            let length = lengths[message]
            let size = Int(segmentSizes[message])
            if offset == 0 {
                // A cut message or malformed control data: the whole message is dropped, never guessed at.
                if truncated[message] != 0 || length > slotSize {
                    counters.truncatedMessages &+= 1
                    nextMessage()
                    continue
                }
                if size < 0 {
                    counters.malformedControl &+= 1
                    nextMessage()
                    continue
                }
                if size > 0 && size < length { counters.coalescedReceives &+= 1 }
            }
            // size 0 (no UDP_GRO) or at least the length: the message is one datagram.
            let segment = size > 0 ? Swift.min(size, length - offset) : length - offset
            let start = message * slotSize + offset
            if segment > batch.slotSize {
                counters.oversizedDatagrams &+= 1
            } else {
                // The datagram lies inside this message's slot (offset + segment <= length <= slotSize).
                storage.withUnsafeBytes { bytes in
                    // try!: the batch has a free slot (checked above) and the datagram fits it (checked here).
                    try! batch.append(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + segment)]))
                }
                if size > 0 && size < length { counters.datagramsSplit &+= 1 }
                if recordSenders { senders.append(sender(of: message)) }
            }
            offset += segment
            if offset >= length { nextMessage() }
        }
    }

    /// Test hook: stands for a `fill` that received `messages` (bytes, UDP_GRO segment size as the C
    /// side reports it, cut or not), so hostile control data can be tried without a hostile kernel.
    mutating func load(_ messages: [(bytes: [UInt8], segmentSize: Int32, truncated: Bool)]) {
        precondition(messages.count <= lengths.count && messages.allSatisfy { $0.bytes.count <= slotSize }, "test messages do not fit")
        for (index, message) in messages.enumerated() {
            storage.replaceSubrange((index * slotSize)..<(index * slotSize + message.bytes.count), with: message.bytes)
            lengths[index] = message.bytes.count
            segmentSizes[index] = message.segmentSize
            truncated[index] = message.truncated ? 1 : 0
        }
        received = messages.count
        message = 0
        offset = 0
    }

    private mutating func nextMessage() {
        message += 1
        offset = 0
    }

    /// The sender of message `index`, reusing the last endpoint while it repeats.
    private mutating func sender(of index: Int) -> IPEndpoint {
        let family = families[index]
        let port = ports[index]
        let (high, low) = addresses.withUnsafeBytes { bytes in
            (
                bytes.loadUnaligned(fromByteOffset: 16 * index, as: UInt64.self),
                bytes.loadUnaligned(fromByteOffset: 16 * index + 8, as: UInt64.self)
            )
        }
        if let lastSender, lastSenderKey == (family, port, high, low) { return lastSender }
        let endpoint =
            DatagramSocket.endpoint(family: family, address: addresses[(16 * index)..<(16 * index + 16)], port: port)
            ?? IPEndpoint(address: .unspecified(family == CULVERT_FAMILY_IPV6 ? .ipv6 : .ipv4), port: 0)
        lastSender = endpoint
        lastSenderKey = (family, port, high, low)
        return endpoint
    }
}
