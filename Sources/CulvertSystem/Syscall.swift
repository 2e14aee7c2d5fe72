// Syscall: the one choke point through which every system call in Culvert is made.
//
// errno is read immediately after the call, EINTR is retried here (one policy for the whole
// program), and errnos that can only mean a bug in Culvert (EBADF, EFAULT) trap instead of being
// thrown, so they are found rather than handled.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

public enum Syscall {
    public static let EAGAIN = Glibc.EAGAIN
    public static let EWOULDBLOCK = Glibc.EWOULDBLOCK
    public static let ENOENT = Glibc.ENOENT
    public static let EEXIST = Glibc.EEXIST
    public static let EPIPE = Glibc.EPIPE
    public static let ECONNRESET = Glibc.ECONNRESET
    public static let ECONNREFUSED = Glibc.ECONNREFUSED
    public static let EACCES = Glibc.EACCES
    public static let EPERM = Glibc.EPERM
    public static let ENOPROTOOPT = Glibc.ENOPROTOOPT
    public static let EADDRINUSE = Glibc.EADDRINUSE
    public static let ENOTDIR = Glibc.ENOTDIR
    public static let EINVAL = Glibc.EINVAL
    public static let EMSGSIZE = Glibc.EMSGSIZE

    /// Runs `body` (one system call that returns -1 and sets errno on failure), retrying on EINTR.
    @inline(__always)
    static func call<R: FixedWidthInteger>(
        _ name: String, path: String? = nil, _ body: () -> R
    ) throws(SystemError) -> R {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = Glibc.errno
            if code == EINTR { continue }
            precondition(code != EBADF && code != EFAULT, "\(name): errno \(code) is a Culvert bug (bad fd or address)")
            throw SystemError(call: name, errno: code, path: path)
        }
    }

    /// As `call`, but EBADF is an ordinary error: for descriptors that came from outside
    /// (socket activation, LISTEN_FDS), where a bad number is input, not a bug.
    static func callAllowingBadDescriptor<R: FixedWidthInteger>(
        _ name: String, _ body: () -> R
    ) throws(SystemError) -> R {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = Glibc.errno
            if code == EINTR { continue }
            throw SystemError(call: name, errno: code)
        }
    }

    /// errno as left by the last C call, for libraries (libmnl) that report failure that way.
    public static var currentErrno: Int32 { Glibc.errno }

    /// strerror(3), for messages.
    public static func errorMessage(_ code: Int32) -> String {
        guard let cString = strerror(code) else { return "errno \(code)" }
        return String(cString: cString)
    }
}

extension Syscall {
    /// `withUnsafeBytes` for a body with a typed error (Array's own rethrows as `any Error`).
    public static func withBytes<R>(
        _ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(SystemError) -> R
    ) throws(SystemError) -> R {
        let result: Result<R, SystemError> = bytes.withUnsafeBytes { raw in
            do throws(SystemError) { return .success(try body(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// `withUnsafeMutableBytes` for a body with a typed error.
    public static func withMutableBytes<R>(
        _ bytes: inout [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws(SystemError) -> R
    ) throws(SystemError) -> R {
        let result: Result<R, SystemError> = bytes.withUnsafeMutableBytes { raw in
            do throws(SystemError) { return .success(try body(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}
