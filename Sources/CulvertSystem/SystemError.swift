// SystemError: an errno from a named system call, as a typed Swift error.

/// A failed system call: which call, which errno, and (when it concerns one) which path.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name of the C function that failed, e.g. `"open"`.
    public var call: String
    /// The errno value it left.
    public var errno: Int32
    /// The file the call was about, if any.
    public var path: String?

    public init(call: String, errno: Int32, path: String? = nil) {
        self.call = call
        self.errno = errno
        self.path = path
    }

    public var description: String {
        let message = Syscall.errorMessage(errno)
        if let path { return "\(call)(\(path)): \(message) (errno \(errno))" }
        return "\(call): \(message) (errno \(errno))"
    }

    /// True for "try again later" conditions on non-blocking descriptors.
    public var isWouldBlock: Bool { errno == Syscall.EAGAIN || errno == Syscall.EWOULDBLOCK }
}
