// Descriptor+Packets: packet I/O on a TUN descriptor, where one read returns one packet and one
// write sends one. The provider SDK's loop: readPackets from the TUN, sendBatch to the UDP socket;
// receiveBatch from the socket, writePackets to the TUN.

#if canImport(Glibc)
    import Glibc
#endif

extension Descriptor {
    /// Reads packets into the batch's free slots until it is full or the descriptor has no packet
    /// ready (EAGAIN). Returns how many were appended; 0 if none was ready.
    ///
    /// The descriptor must be non-blocking (`setNonblocking(true)`): on a blocking one the call waits
    /// for packets until the batch is full. A packet longer than the batch's slots is read and dropped.
    /// - Throws: `SystemError` from `read` (e.g. EIO) if no packet was read before the error; after
    ///   at least one, returns those instead and the next call meets the error again.
    /// The corresponding C function is `read`, once per packet and once more for the EAGAIN.
    public func readPackets(into batch: inout PacketBatch) throws(SystemError) -> Int {
        let first = batch.count
        let capacity = batch.capacity
        let slotSize = batch.slotSize
        let fd = rawValue
        let (filled, failure) = batch.withUnsafeSlots { bytes, lengths -> (Int, SystemError?) in
            var slot = first
            while slot < capacity {
                // baseAddress! : the buffer holds capacity * slotSize >= 1 bytes.
                let start = bytes.baseAddress! + slot * slotSize
                let n: Int
                do throws(SystemError) {
                    n = try Syscall.call("read") { Glibc.read(fd, start, slotSize) }
                } catch {
                    return (slot - first, error.isWouldBlock ? nil : error)
                }
                if n == 0 { break }
                // TUN reports a packet's full length even when it did not fit; such a packet is lost.
                if n > slotSize { continue }
                lengths[slot] = n
                slot += 1
            }
            return (slot - first, nil)
        }
        batch.commit(filled)
        if let failure, filled == 0 { throw failure }
        return filled
    }

    /// Writes the batch's packets from `startIndex` on, one `write` each. Returns how many were
    /// written: all of them, or fewer when a write failed or would block after at least one succeeded
    /// (call again from `startIndex + written` to go on, or to meet the error).
    /// - Throws: `SystemError` from the first write (EAGAIN on a full non-blocking queue, EIO when
    ///   the interface is down, EINVAL for a packet the kernel refuses).
    /// The corresponding C function is `write`.
    public func writePackets(_ batch: PacketBatch, from startIndex: Int = 0) throws(SystemError) -> Int {
        precondition(startIndex >= 0 && startIndex <= batch.count, "start index \(startIndex) out of range 0...\(batch.count)")
        let fd = rawValue
        let slotSize = batch.slotSize
        let count = batch.count
        return try batch.withUnsafePackets { bytes, lengths throws(SystemError) -> Int in
            var index = startIndex
            while index < count {
                // baseAddress! : the buffer holds capacity * slotSize >= 1 bytes.
                let start = bytes.baseAddress! + index * slotSize
                let length = lengths[index]
                do throws(SystemError) {
                    _ = try Syscall.call("write") { Glibc.write(fd, start, length) }
                } catch {
                    if index == startIndex { throw error }
                    break
                }
                index += 1
            }
            return index - startIndex
        }
    }
}
