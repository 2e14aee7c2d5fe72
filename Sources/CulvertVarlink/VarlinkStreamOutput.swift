// VarlinkStreamOutput: what a VarlinkStream has yet to send — frames, some carrying descriptors.
//
// A frame with descriptors is its own entry and goes out in its own sendmsg, starting at its first
// byte, so the receiver can attribute the descriptors (see VarlinkPeer.swift). Frames without
// descriptors are coalesced into the entry before them when that entry carries none (or has
// already sent its descriptors) and both are small, so a burst of small frames costs one send.
//
// Nothing here copies or moves bytes in proportion to a large frame: a large frame is queued as
// its own entry (never appended to another), a partly sent entry is never shifted (its offset
// advances), and a large entry, once sent, is freed off the queue (`VarlinkLargeBuffers`).

import CulvertSystem

/// The send queue. Owns the descriptors queued with frames and closes each once it is sent.
struct VarlinkStreamOutput {
    private struct Entry {
        var bytes: [UInt8]
        /// Sent with the entry's first byte; emptied (and closed) once sent.
        var descriptors: [Descriptor]
    }

    /// Largest entry small frames are coalesced into. It bounds both the copy an append costs and
    /// what a long stream that never quite drains keeps of bytes already sent (an entry is freed
    /// once all of it is sent).
    static let coalesceLimit = VarlinkLimits.readChunkSize * 4

    private var entries: [Entry] = []
    /// Bytes of `entries[0]` already sent.
    private var offset = 0
    /// Bytes queued and not yet sent.
    private(set) var queuedBytes = 0

    var isEmpty: Bool { entries.isEmpty }

    /// Queues `frame`, taking ownership of `descriptors`.
    mutating func append(_ frame: [UInt8], passing descriptors: [Descriptor]) {
        if descriptors.isEmpty, let last = entries.indices.last, entries[last].descriptors.isEmpty,
            entries[last].bytes.count + frame.count <= Self.coalesceLimit
        {
            entries[last].bytes.append(contentsOf: frame)
        } else {
            entries.append(Entry(bytes: frame, descriptors: descriptors))
        }
        queuedBytes += frame.count
    }

    /// Sends as much as the socket takes. Returns true once everything is sent, false when the
    /// socket is full (EAGAIN); throws any other error.
    mutating func write(to socket: Descriptor) throws(SystemError) -> Bool {
        while !entries.isEmpty {
            let sent: Int
            do {
                if entries[0].descriptors.isEmpty {
                    sent = try socket.send(entries[0].bytes, from: offset)
                } else {
                    // offset is 0 here: descriptors are cleared by the first send of their entry.
                    sent = try socket.send(entries[0].bytes, passing: entries[0].descriptors)
                    entries[0].descriptors.forEach { $0.close() }  // the receiver has its own copies now
                    entries[0].descriptors = []
                }
            } catch {
                if error.isWouldBlock { return false }
                throw error
            }
            offset += sent
            queuedBytes -= sent
            if offset == entries[0].bytes.count {
                VarlinkLargeBuffers.release(entries.removeFirst().bytes)
                offset = 0
            }
        }
        return true
    }

    /// Drops every frame not yet begun, closing their descriptors. The frame partly sent (or,
    /// if the head frame is untouched, that one) stays, so the other end still reads whole frames.
    mutating func dropUnsentFrames() {
        guard !entries.isEmpty else { return }
        for entry in entries.dropFirst() { entry.descriptors.forEach { $0.close() } }
        entries.removeSubrange(1...)
        // Entries hold whole frames, each ending in its NUL.
        if let end = entries[0].bytes[offset...].firstIndex(of: 0) { entries[0].bytes.removeSubrange((end + 1)...) }
        queuedBytes = entries[0].bytes.count - offset
    }

    /// Drops everything unsent, closing the descriptors that were waiting to go.
    mutating func discard() {
        let dropped = entries
        entries = []
        for entry in dropped { entry.descriptors.forEach { $0.close() } }
        VarlinkLargeBuffers.release(dropped.map(\.bytes))
        offset = 0
        queuedBytes = 0
    }
}
