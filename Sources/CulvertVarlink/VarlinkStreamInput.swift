// VarlinkStreamInput: what a VarlinkStream has received — bytes cut into NUL-terminated messages,
// and (when descriptors are passed) each read's descriptors attributed to the message they
// arrived with.
//
// The attribution rule (VarlinkPeer.swift explains why it holds): the descriptors returned by one
// read belong to the last message that starts within that read's bytes. A read that returns
// descriptors but starts no message cannot be attributed and is a protocol error.

import CulvertSystem

#if canImport(Glibc)
    import Glibc
#endif

/// One complete message, NUL removed, and the descriptors that came with it (the taker owns them).
struct VarlinkFrame {
    var bytes: ArraySlice<UInt8>
    var descriptors: [Descriptor]
}

/// The receive buffer. A value type: the stream does the reading and feeds each read in.
struct VarlinkStreamInput {
    enum Failure: Error {
        /// A read carried descriptors but no message starts in its bytes.
        case descriptorsWithoutMessage
        /// A message is longer than the limit (or would be, once its NUL arrives).
        case tooLarge
    }

    /// Capacity reserved at once for a message that passes `VarlinkFrameDecoding.offQueueFrom`
    /// bytes: the largest message and one more read. Grown by doubling instead, the buffer would
    /// copy the whole partial message at each step — milliseconds at megabytes, on the stream's
    /// queue. Reserved, not touched: its pages are used only as bytes arrive.
    let largeMessageCapacity: Int

    private var bytes: [UInt8] = []
    /// Where the next message starts in `bytes`.
    private var start = 0
    /// `bytes[start..<scanned]` holds no NUL.
    private var scanned = 0
    /// Stream offset of `bytes[0]`: attachments are keyed by stream offset so compaction keeps them valid.
    private var base = 0
    /// Whether the next byte to arrive begins a message.
    private var atMessageStart = true
    /// Descriptors waiting for their message to complete, by the stream offset where it starts; ascending.
    private var attachments: [(offset: Int, descriptors: [Descriptor])] = []

    /// Stream offset where the message still missing its NUL begins; nil when the bytes
    /// received end with a NUL. The partial-message deadline runs from here.
    private(set) var partialMessageStart: Int?

    /// `largeMessageCapacity` is what a stream taking messages of up to N bytes reserves once a
    /// message grows large (N plus one read); 0 reserves nothing ahead.
    init(largeMessageCapacity: Int = 0) {
        self.largeMessageCapacity = largeMessageCapacity
    }

    /// Bytes received and not yet taken as frames.
    var bufferedBytes: Int { bytes.count - start }
    /// Bytes the buffer can hold before it must grow (a test checks large messages do not regrow it).
    var capacity: Int { bytes.capacity }

    /// The bytes not yet taken as frames (what a re-exec carries). Descriptors are not included.
    var unprocessedBytes: [UInt8] { Array(bytes[start...]) }

    /// Fills an empty buffer with bytes another process image received and did not process;
    /// they begin with a message.
    mutating func restore(_ carried: [UInt8]) {
        // Restoring over received bytes would reorder the stream: a defect in the caller.
        precondition(bytes.isEmpty && attachments.isEmpty, "restoring into a buffer that has input")
        bytes = carried
        atMessageStart = carried.last.map { $0 == 0 } ?? true
        noteArrival(from: 0)
    }

    /// Updates `partialMessageStart` for the bytes that arrived at `bytes[index...]`.
    private mutating func noteArrival(from index: Int) {
        guard index < bytes.count else { return }
        if let nul = lastNul(from: index) {
            partialMessageStart = nul == bytes.count - 1 ? nil : base + nul + 1
        } else if partialMessageStart == nil {
            partialMessageStart = base + index
        }
    }

    /// Reads up to `maximum` bytes from `socket` (no descriptors: the kernel discards any sent).
    /// Returns the count; 0 at end of stream. The corresponding C function is `read`.
    mutating func read(from socket: Descriptor, maximum: Int) throws(SystemError) -> Int {
        makeRoom(for: maximum)
        let before = bytes.count
        let count = try socket.read(appendingTo: &bytes, maximum: maximum)
        if let last = bytes.last, count > 0 { atMessageStart = last == 0 }
        noteArrival(from: before)
        return count
    }

    /// Adds the result of one read. Throws (after closing the read's descriptors) if the
    /// descriptors cannot be attributed to a message.
    mutating func append(_ received: ReceivedMessage) throws(Failure) {
        let count = received.bytes.count
        if !received.descriptors.isEmpty {
            var lastStart: Int?
            if count > 0, let nul = received.bytes[..<(count - 1)].lastIndex(of: 0) {
                lastStart = nul + 1
            } else if count > 0, atMessageStart {
                lastStart = 0
            }
            guard let lastStart else {
                received.descriptors.forEach { $0.close() }
                throw .descriptorsWithoutMessage
            }
            attachments.append((base + bytes.count + lastStart, received.descriptors))
        }
        if let last = received.bytes.last { atMessageStart = last == 0 }
        makeRoom(for: count)
        let before = bytes.count
        bytes.append(contentsOf: received.bytes)
        noteArrival(from: before)
    }

    /// Reserves `largeMessageCapacity` once the buffered input is large and `count` more bytes
    /// would make the buffer grow: one copy of what is buffered (about `offQueueFrom` bytes), then
    /// none however large the message gets.
    private mutating func makeRoom(for count: Int) {
        guard bytes.count + count > bytes.capacity, bytes.count - start >= VarlinkFrameDecoding.offQueueFrom else { return }
        bytes.reserveCapacity(max(bytes.count + count, start + largeMessageCapacity))
    }

    /// Takes the next complete message, or returns nil if none is complete yet.
    mutating func nextFrame(maximumSize: Int) throws(Failure) -> VarlinkFrame? {
        guard let nul = firstNul(from: scanned) else {
            scanned = bytes.count
            if bytes.count - start + 1 > maximumSize { throw .tooLarge }
            return nil
        }
        guard nul - start + 1 <= maximumSize else { throw .tooLarge }
        var frame = VarlinkFrame(bytes: bytes[start..<nul], descriptors: [])
        if let first = attachments.first, first.offset == base + start {
            frame.descriptors = first.descriptors
            attachments.removeFirst()
        }
        start = nul + 1
        scanned = start
        return frame
    }

    /// Drops the bytes of messages already taken.
    mutating func compact() {
        guard start > 0 else { return }
        if start == bytes.count {
            // Everything was taken: free the storage, so thousands of idle connections hold none.
            base += start
            scanned = 0
            start = 0
            releaseBytes()
            return
        }
        bytes.removeSubrange(0..<start)
        base += start
        scanned -= start
        start = 0
    }

    /// Empties the buffer, closing every descriptor not yet handed out.
    mutating func discard() {
        for attachment in attachments { attachment.descriptors.forEach { $0.close() } }
        attachments = []
        releaseBytes()
        start = 0
        scanned = 0
        partialMessageStart = nil
    }

    /// Empties `bytes`, freeing a large buffer off the queue (`VarlinkLargeBuffers`).
    private mutating func releaseBytes() {
        var dropped: [UInt8] = []
        swap(&dropped, &bytes)
        VarlinkLargeBuffers.release(dropped)
    }

    // Every byte received is searched for NULs twice on the stream's queue. A byte loop costs about
    // a nanosecond a byte (a quarter of a millisecond per 256 KiB wake-up of a large message);
    // memchr is an order of magnitude faster.

    /// Index of the first NUL in `bytes[index...]`, or nil.
    private func firstNul(from index: Int) -> Int? {
        guard index < bytes.count else { return nil }
        return bytes.withUnsafeBytes { buffer -> Int? in
            guard let base = buffer.baseAddress, let found = memchr(base + index, 0, buffer.count - index) else { return nil }
            return base.distance(to: UnsafeRawPointer(found))
        }
    }

    /// Index of the last NUL in `bytes[index...]`, or nil: memchr says whether there is one, and a
    /// backward scan stops at it (a message's NUL is usually its read's last byte).
    private func lastNul(from index: Int) -> Int? {
        guard firstNul(from: index) != nil else { return nil }
        return bytes[index...].lastIndex(of: 0)
    }
}
