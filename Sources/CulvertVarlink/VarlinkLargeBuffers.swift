// VarlinkLargeBuffers: a large buffer a stream is done with is freed off the connection's queue.
//
// Freeing a buffer of megabytes may hand its pages back to the kernel (munmap), which costs about a
// millisecond per 10 MiB on a small machine — a stall every other client on the queue would wait
// out. Buffers past `offQueueFrom` are handed to the decode queue, which drops them there.

import Dispatch

enum VarlinkLargeBuffers {
    /// Buffers of this capacity or more are freed off the caller's queue; smaller ones are cheap to free.
    static let offQueueFrom = 1 << 20

    /// Lets go of `buffer`: here if it is small, on `VarlinkFrameDecoding.work` if it is large.
    /// Best effort: the caller must hold no other reference, or the last one to go frees it.
    static func release(_ buffer: consuming [UInt8]) {
        guard buffer.capacity >= offQueueFrom else { return }
        let owned = buffer
        VarlinkFrameDecoding.work.async { withExtendedLifetime(owned) {} }
    }

    /// Lets go of several buffers, the large ones off the caller's queue (as `release(_:)`).
    static func release(_ buffers: consuming [[UInt8]]) {
        guard buffers.contains(where: { $0.capacity >= offQueueFrom }) else { return }
        let owned = buffers
        VarlinkFrameDecoding.work.async { withExtendedLifetime(owned) {} }
    }
}
