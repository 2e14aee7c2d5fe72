// Descriptor: an owned-or-borrowed file descriptor number with typed operations.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

/// A file descriptor. A value type: whoever created it decides who closes it.
public struct Descriptor: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public var description: String { "fd \(rawValue)" }

    public static let standardInput = Descriptor(rawValue: 0)
    public static let standardOutput = Descriptor(rawValue: 1)
    public static let standardError = Descriptor(rawValue: 2)

    /// Closes the descriptor. The corresponding C function is `close`.
    /// EINTR is not retried: on Linux the descriptor is released even then.
    public func close() {
        let rc = Glibc.close(rawValue)
        precondition(rc == 0 || Glibc.errno != EBADF, "close(\(rawValue)): EBADF is a Culvert bug (double close)")
    }

    /// Reads up to `buffer.count` bytes. Returns 0 at end of file. The corresponding C function is `read`.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        try Syscall.call("read") { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Writes some of `buffer`; returns how many bytes were taken. The corresponding C function is
    /// `send` with MSG_NOSIGNAL on sockets (a closed peer is EPIPE, never SIGPIPE), `write` otherwise.
    public func send(_ buffer: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        try Syscall.call("send") { CCulvert.culvert_send_nosignal(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Reads up to `maximum` bytes and appends them to `buffer`. Returns the count; 0 at end of file.
    public func read(appendingTo buffer: inout [UInt8], maximum: Int) throws(SystemError) -> Int {
        // Read into scratch space and append only what arrived: growing and trimming `buffer`
        // by `maximum` per call costs milliseconds per read in unoptimised builds.
        let result: Result<Int, SystemError> = withUnsafeTemporaryAllocation(byteCount: maximum, alignment: 16) { scratch in
            do throws(SystemError) {
                let n = try read(into: scratch)
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
                return .success(n)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Sends some of `bytes` starting at `offset`; returns how many were taken.
    public func send(_ bytes: [UInt8], from offset: Int) throws(SystemError) -> Int {
        try Syscall.withBytes(bytes) { raw throws(SystemError) in try send(UnsafeRawBufferPointer(rebasing: raw[offset...])) }
    }

    /// Sends all of `bytes` on a blocking socket; a closed peer is EPIPE, never SIGPIPE.
    /// The corresponding C function is `send` with MSG_NOSIGNAL.
    public func sendAll(_ bytes: [UInt8]) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            offset += try send(bytes, from: offset)
        }
    }

    /// Writes all of `bytes` to a blocking descriptor. The corresponding C function is `write`.
    public func writeAll(_ bytes: some Collection<UInt8>) throws(SystemError) {
        let array = Array(bytes)
        var offset = 0
        while offset < array.count {
            let n = try Syscall.withBytes(array) { raw throws(SystemError) in
                // baseAddress! : the buffer is non-empty, since offset < count.
                try Syscall.call("write") { Glibc.write(rawValue, raw.baseAddress! + offset, raw.count - offset) }
            }
            offset += n
        }
    }

    public func setNonblocking(_ on: Bool) throws(SystemError) {
        _ = try Syscall.call("fcntl") { CCulvert.culvert_set_nonblocking(rawValue, on ? 1 : 0) }
    }

    /// A second descriptor for the same open file, close-on-exec, to give away (for example to a
    /// call that closes what it sends) while keeping this one. The corresponding C call is
    /// `fcntl(F_DUPFD_CLOEXEC)`.
    public func duplicate() throws(SystemError) -> Descriptor {
        Descriptor(rawValue: try Syscall.call("fcntl(F_DUPFD_CLOEXEC)") { fcntl(rawValue, F_DUPFD_CLOEXEC, 0) })
    }

    /// Makes descriptor number `target` refer to this descriptor's open file (closing what was
    /// there), without close-on-exec. The corresponding C function is `dup2`.
    public func duplicate(onto target: Int32) throws(SystemError) {
        _ = try Syscall.call("dup2") { culvert_dup2(rawValue, target) }
    }

    /// A pipe: (read end, write end), both close-on-exec. The corresponding C function is `pipe2`.
    public static func pipe() throws(SystemError) -> (read: Descriptor, write: Descriptor) {
        var fds: [Int32] = [-1, -1]
        _ = try Syscall.call("pipe2") { culvert_pipe(&fds) }
        return (Descriptor(rawValue: fds[0]), Descriptor(rawValue: fds[1]))
    }

    public func setCloseOnExec(_ on: Bool) throws(SystemError) {
        _ = try Syscall.call("fcntl") { CCulvert.culvert_set_cloexec(rawValue, on ? 1 : 0) }
    }

    /// Shuts down reading and writing on a socket. The corresponding C function is `shutdown`.
    public func shutdown() {
        _ = Glibc.shutdown(rawValue, Int32(SHUT_RDWR))  // best effort: the fd is closed right after
    }

    /// Shuts down the sending side only: the peer reads end of file. The corresponding C function is `shutdown`.
    public func shutdownWrite() {
        _ = Glibc.shutdown(rawValue, Int32(SHUT_WR))  // best effort: the peer learns of it or the socket is already gone
    }

    /// Waits until the descriptor is writable or `timeoutMilliseconds` pass. Returns true if writable.
    public func waitWritable(timeoutMilliseconds: Int32) throws(SystemError) -> Bool {
        var pfd = pollfd(fd: rawValue, events: Int16(POLLOUT), revents: 0)
        let n = try Syscall.call("poll") { poll(&pfd, 1, timeoutMilliseconds) }
        return n > 0
    }

    /// Waits until the descriptor is readable or `timeoutMilliseconds` pass. Returns true if readable.
    public func waitReadable(timeoutMilliseconds: Int32) throws(SystemError) -> Bool {
        var pfd = pollfd(fd: rawValue, events: Int16(POLLIN), revents: 0)
        let n = try Syscall.call("poll") { poll(&pfd, 1, timeoutMilliseconds) }
        return n > 0
    }
}
