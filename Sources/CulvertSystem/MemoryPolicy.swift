// MemoryPolicy: keeps a long-running daemon's resident memory near its working set after a
// client sent something huge (a 16 MiB message must not leave 16 MiB resident for ever).

import CCulvert

public enum MemoryPolicy {
    /// Allocations at least this large are mmapped and so returned to the kernel when freed.
    public static let mmapThreshold: Int32 = 256 << 10

    /// Call once at daemon start. glibc otherwise raises its threshold after the first large
    /// free, and later large buffers come from the heap, where they stay resident.
    public static func configureForDaemon() {
        _ = culvert_malloc_fix_mmap_threshold(mmapThreshold)  // 0 only on invalid input; the threshold is a constant
    }

    /// Returns free heap pages to the kernel (malloc_trim). Cheap enough after rare large work.
    public static func releaseFreeMemory() {
        _ = culvert_malloc_trim()  // the result only says whether anything was released
    }

    /// Bytes of heap allocated and not yet freed (glibc's mallinfo2 `uordblks`): for tests and
    /// benchmarks that check a loop leaves the heap as it found it.
    public static var heapBytesInUse: Int { Int(culvert_malloc_bytes_in_use()) }
}
