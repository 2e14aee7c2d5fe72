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

/// Why `PacketBatch.appendInPlace` appended nothing: the batch refused, or the fill threw.
public enum PacketBatchFillError<Failure: Error>: Error {
    case batch(PacketBatchError)
    case fill(Failure)
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
    /// `capacity * slotSize` bytes; packet `i` starts at `i * slotSize`. `@usableFromInline` (as
    /// `lengths`, `filled` and the generic accessors below are, with `@inlinable`): a data plane in
    /// another module calls the accessors per packet, and unspecialised they looked up generic
    /// metadata (`Result<R, E>`) at run time on every call — 10–13 % of a WireGuard provider's CPU.
    @usableFromInline var storage: [UInt8]
    /// The length of each packet; only the first `count` entries mean anything.
    @usableFromInline var lengths: [Int]
    /// How many slots hold a packet (`count`).
    @usableFromInline var filled: Int
    /// How many slots hold a packet.
    public var count: Int { filled }

    /// An empty batch. Both limits are clamped to 1...`maximumPacketCount` and 1...`maximumPacketSize`.
    /// A batch for a TUN device needs slots of at least its MTU; one for UDP, of the largest datagram expected.
    public init(capacity: Int = PacketBatch.maximumPacketCount, slotSize: Int = PacketBatch.maximumPacketSize) {
        self.capacity = Swift.min(Swift.max(1, capacity), Self.maximumPacketCount)
        self.slotSize = Swift.min(Swift.max(1, slotSize), Self.maximumPacketSize)
        self.storage = [UInt8](repeating: 0, count: self.capacity * self.slotSize)
        self.lengths = [Int](repeating: 0, count: self.capacity)
        self.filled = 0
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
        filled += 1
    }

    /// Empties the batch, keeping its buffer.
    public mutating func removeAll() { filled = 0 }

    /// Removes packet `index`, moving each later packet one slot down (a copy each): for the rare
    /// packet a data plane refuses after writing it in place (e.g. decrypted straight into the batch).
    public mutating func removePacket(at index: Int) {
        precondition(index >= 0 && index < count, "packet index \(index) out of range 0..<\(count)")
        let size = slotSize
        let total = count
        withUnsafeSlots { bytes, lengths in
            for slot in index..<(total - 1) {
                let length = lengths[slot + 1]
                let from = (slot + 1) * size
                UnsafeMutableRawBufferPointer(rebasing: bytes[(slot * size)..<(slot * size + length)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[from..<(from + length)]))
                lengths[slot] = length
            }
        }
        filled -= 1
    }

    /// Fills the next free slot in place: `fill` gets the whole slot (`slotSize` bytes) and returns
    /// the packet's length, or nil to append nothing. Returns whether a packet was appended. For a
    /// data plane that seals or decrypts straight into a batch instead of copying through a scratch buffer.
    /// - Throws: `PacketBatchError.full` when no slot is free, or what `fill` throws; the batch is unchanged then.
    @discardableResult @inlinable
    public mutating func appendInPlace<E: Error>(
        _ fill: (UnsafeMutableRawBufferPointer) throws(E) -> Int?
    ) throws(PacketBatchFillError<E>) -> Bool {
        guard count < capacity else { throw .batch(.full(capacity: capacity)) }
        let start = count * slotSize
        let end = start + slotSize
        let size = try withUnsafeSlots { (bytes, _) throws(PacketBatchFillError<E>) -> Int? in
            do throws(E) {
                return try fill(UnsafeMutableRawBufferPointer(rebasing: bytes[start..<end]))
            } catch {
                throw .fill(error)
            }
        }
        guard let size else { return false }
        precondition(size >= 0 && size <= slotSize, "appendInPlace: a fill returned \(size) for a \(slotSize)-byte slot")
        lengths[count] = size
        filled += 1
        return true
    }

    /// Runs `body` with packet `index`'s whole slot (`slotSize` bytes, the packet at its start) and
    /// the packet's length, which `body` may change (0...`slotSize`): in-place work on a received
    /// packet (decrypting, trimming) without copying it out.
    @inlinable
    public mutating func withUnsafeMutablePacket<R, E: Error>(
        at index: Int, _ body: (UnsafeMutableRawBufferPointer, inout Int) throws(E) -> R
    ) throws(E) -> R {
        precondition(index >= 0 && index < count, "packet index \(index) out of range 0..<\(count)")
        let start = index * slotSize
        let size = slotSize
        let result = try withUnsafeSlots { (bytes, lengths) throws(E) -> R in
            try body(UnsafeMutableRawBufferPointer(rebasing: bytes[start..<(start + size)]), &lengths[index])
        }
        precondition(lengths[index] >= 0 && lengths[index] <= slotSize, "a packet's length set outside its slot")
        return result
    }

    /// Runs `body` with packet `index`'s bytes, read-only, without making an `ArraySlice`.
    @inlinable
    public func withUnsafePacket<R, E: Error>(at index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        precondition(index >= 0 && index < count, "packet index \(index) out of range 0..<\(count)")
        let start = index * slotSize
        let result: Result<R, E> = storage.withUnsafeBytes { bytes in
            do throws(E) {
                return .success(try body(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + lengths[index])])))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Marks the next `filled` slots as holding packets of the lengths already written to `lengths`.
    mutating func commit(_ added: Int) {
        precondition(count + added <= capacity, "committed past the batch's capacity")
        filled += added
    }

    /// Runs `body` with the whole buffer and the lengths array, for the system calls that fill or drain slots.
    @inlinable
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
    @inlinable
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
