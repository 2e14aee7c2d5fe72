// Readiness: waiting for one of several descriptors to become readable, with a timeout — how a
// data-plane thread sleeps on its TUN, its socket and its WakeEvent at once.

#if canImport(Glibc)
    import Glibc
#endif

/// Which of the watched descriptors are ready, by their position in the list given to
/// `Descriptor.waitReadable(_:timeout:)`. Empty when the timeout passed.
public struct ReadyDescriptors: Sendable, Hashable, CustomStringConvertible {
    /// The most descriptors one `Descriptor.waitReadable(_:timeout:)` call watches: one bit each in `mask`.
    public static let maximumWatchedDescriptors = 64

    /// Bit `i` set: descriptor `i` is ready.
    public let mask: UInt64

    public init(mask: UInt64) { self.mask = mask }

    /// True if none is ready (the wait timed out).
    public var isEmpty: Bool { mask == 0 }
    /// True if the descriptor at `index` in the watched list is ready.
    public func contains(_ index: Int) -> Bool { index >= 0 && index < 64 && mask & (1 << UInt64(index)) != 0 }

    public var description: String { "ready \((0..<64).filter(contains))" }
}

extension Descriptor {
    /// Waits until at least one of `descriptors` is readable, or `timeout` passes (nil: no limit).
    ///
    /// "Readable" includes end of file, a hang-up and a pending error: the next read reports them.
    /// A timeout is rounded up to whole milliseconds; a wait interrupted by a signal starts again
    /// with the full timeout. Allocates nothing.
    /// - Returns: the ready descriptors, by position; empty if the timeout passed.
    /// - Throws: `SystemError` from `poll`, or EINVAL for more than `maximumWatchedDescriptors`.
    /// The corresponding C function is `poll`.
    public static func waitReadable(_ descriptors: [Descriptor], timeout: Duration?) throws(SystemError) -> ReadyDescriptors {
        guard descriptors.count <= ReadyDescriptors.maximumWatchedDescriptors else {
            throw SystemError(call: "poll", errno: Syscall.EINVAL)
        }
        let milliseconds = pollMilliseconds(timeout)
        let result: Result<ReadyDescriptors, SystemError> = withUnsafeTemporaryAllocation(
            of: pollfd.self, capacity: max(1, descriptors.count)
        ) { watched in
            for (index, descriptor) in descriptors.enumerated() {
                watched[index] = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
            }
            do throws(SystemError) {
                let ready = try Syscall.call("poll") { poll(watched.baseAddress, nfds_t(descriptors.count), milliseconds) }
                guard ready > 0 else { return .success(ReadyDescriptors(mask: 0)) }
                // POLLNVAL (a closed descriptor in the list) is a Culvert bug, like EBADF.
                var mask: UInt64 = 0
                for index in 0..<descriptors.count where watched[index].revents != 0 {
                    precondition(
                        watched[index].revents & Int16(POLLNVAL) == 0, "poll: \(descriptors[index]) is not open (Culvert bug)")
                    mask |= 1 << UInt64(index)
                }
                return .success(ReadyDescriptors(mask: mask))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// `timeout` as poll's milliseconds: -1 for none, rounded up, at most Int32.max.
    private static func pollMilliseconds(_ timeout: Duration?) -> Int32 {
        guard let timeout else { return -1 }
        let (seconds, attoseconds) = timeout.components
        guard seconds >= 0 else { return 0 }
        let whole = seconds.multipliedReportingOverflow(by: 1000)
        let extra = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000  // attoseconds per millisecond, rounded up
        guard !whole.overflow, whole.partialValue + extra <= Int64(Int32.max) else { return Int32.max }
        return Int32(whole.partialValue + extra)
    }
}
