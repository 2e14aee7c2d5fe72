// PacketBatch: a reusable set of packets in one contiguous buffer, the unit the data plane moves
// between a TUN descriptor and a UDP socket. Packets live in fixed-size slots so that recvmmsg can
// fill them in place; reusing a batch allocates nothing per packet.

import CCulvert

/// Why a packet could not be appended to a batch.
public enum PacketBatchError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Every slot holds a packet.
    case full(capacity: Int)
    /// The packet is longer than the batch's slots.
    case packetTooLarge(size: Int, slotSize: Int)

    public var description: String {
        switch self {
        case .full(let capacity): "packet batch is full (\(capacity) packets)"
        case .packetTooLarge(let size, let slotSize): "packet of \(size) bytes exceeds the batch's \(slotSize)-byte slots"
        }
    }
}

/// Up to `capacity` packets of up to `slotSize` bytes each, held in one buffer.
///
/// A collection of the packets it holds, in order; each element is a slice of the shared buffer, so
/// iterating allocates nothing. Readers (`Descriptor.readPackets`, `DatagramSocket.receiveBatch`)
/// append into the free slots; `removeAll()` empties the batch and keeps its buffer for the next round.
public struct PacketBatch: Sendable, RandomAccessCollection {
    /// The most packets a batch holds, and so the most one batched system call moves.
    public static let maximumPacketCount = Int(CULVERT_DATAGRAM_BATCH_MAX)
    /// The largest packet: an IP packet's length field is 16 bits.
    public static let maximumPacketSize = 65_535

    /// How many packets the batch can hold.
    public let capacity: Int
    /// The longest packet a slot holds.
    public let slotSize: Int
    /// `capacity * slotSize` bytes; packet `i` starts at `i * slotSize`.
    private(set) var storage: [UInt8]
    /// The length of each packet; only the first `count` entries mean anything.
    private(set) var lengths: [Int]
    /// How many slots hold a packet.
    public private(set) var count: Int

    /// An empty batch. Both limits are clamped to 1...`maximumPacketCount` and 1...`maximumPacketSize`.
    /// A batch for a TUN device needs slots of at least its MTU; one for UDP, of the largest datagram expected.
    public init(capacity: Int = PacketBatch.maximumPacketCount, slotSize: Int = PacketBatch.maximumPacketSize) {
        self.capacity = Swift.min(Swift.max(1, capacity), Self.maximumPacketCount)
        self.slotSize = Swift.min(Swift.max(1, slotSize), Self.maximumPacketSize)
        self.storage = [UInt8](repeating: 0, count: self.capacity * self.slotSize)
        self.lengths = [Int](repeating: 0, count: self.capacity)
        self.count = 0
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    /// True when no slot is free.
    public var isFull: Bool { count == capacity }
    /// How many more packets fit.
    public var freeSlots: Int { capacity - count }

    /// Packet `index`: a slice of the batch's buffer (its indices are offsets into that buffer).
    public subscript(index: Int) -> ArraySlice<UInt8> {
        precondition(index >= 0 && index < count, "packet index \(index) out of range 0..<\(count)")
        let start = index * slotSize
        return storage[start..<(start + lengths[index])]
    }

    /// Copies `packet` into the next free slot.
    /// - Throws: `PacketBatchError.full` or `.packetTooLarge`; the batch is unchanged then.
    public mutating func append(_ packet: some Collection<UInt8>) throws(PacketBatchError) {
        guard count < capacity else { throw .full(capacity: capacity) }
        let size = packet.count
        guard size <= slotSize else { throw .packetTooLarge(size: size, slotSize: slotSize) }
        let start = count * slotSize
        storage.withUnsafeMutableBufferPointer { buffer in
            // The slot is `slotSize` bytes and `size <= slotSize`, so the copy stays inside it.
            let slot = UnsafeMutableBufferPointer(rebasing: buffer[start..<(start + size)])
            _ = slot.initialize(fromContentsOf: packet)
        }
        lengths[count] = size
        count += 1
    }

    /// Empties the batch, keeping its buffer.
    public mutating func removeAll() { count = 0 }

    /// Marks the next `filled` slots as holding packets of the lengths already written to `lengths`.
    mutating func commit(_ filled: Int) {
        precondition(count + filled <= capacity, "committed past the batch's capacity")
        count += filled
    }

    /// Runs `body` with the whole buffer and the lengths array, for the system calls that fill or drain slots.
    mutating func withUnsafeSlots<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer, UnsafeMutableBufferPointer<Int>) throws(E) -> R
    ) throws(E) -> R {
        let result: Result<R, E> = storage.withUnsafeMutableBytes { bytes in
            lengths.withUnsafeMutableBufferPointer { lengths in
                do throws(E) { return .success(try body(bytes, lengths)) } catch { return .failure(error) }
            }
        }
        return try result.get()
    }

    /// Runs `body` with the whole buffer and the lengths, for the system calls that send the packets.
    func withUnsafePackets<R, E: Error>(
        _ body: (UnsafeRawBufferPointer, UnsafeBufferPointer<Int>) throws(E) -> R
    ) throws(E) -> R {
        let result: Result<R, E> = storage.withUnsafeBytes { bytes in
            lengths.withUnsafeBufferPointer { lengths in
                do throws(E) { return .success(try body(bytes, lengths)) } catch { return .failure(error) }
            }
        }
        return try result.get()
    }
}
