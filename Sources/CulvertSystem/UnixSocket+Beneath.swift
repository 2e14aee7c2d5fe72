// UnixSocket+Beneath: connecting, as root, to a socket file in a directory an untrusted user
// controls (a provider's rendezvous socket), so that a symlink put in its place leads nowhere.
//
// connect(2) resolves a path and follows every symlink in it. Here the entry is first opened
// relative to a directory descriptor with O_PATH | O_NOFOLLOW and checked with fstat to be a
// socket; the connect then goes through /proc/self/fd/N, which names exactly that inode.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

extension UnixSocket {
    /// Connects to the socket file `name` in `directory` without following a symlink, and
    /// without waiting on a listener whose backlog is full (EAGAIN). Returns the connection and
    /// the status of the socket file that was connected to, so the caller can check its owner.
    /// ELOOP if `name` is a symlink, ENOTSOCK if it is anything else that is not a socket. The
    /// corresponding C functions are `openat` (O_PATH), `fstat`, `socket` and `connect`.
    public static func connect(
        in directory: DirectoryHandle, name: String
    ) throws(SystemError) -> (connection: Descriptor, socketFile: FileStatus) {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw SystemError(call: "openat", errno: Syscall.EINVAL, path: name)
        }
        let fd = try Syscall.call("openat", path: name) { CCulvert.culvert_open_path(directory.descriptor.rawValue, name) }
        let file = Descriptor(rawValue: fd)
        defer { file.close() }
        let status = try file.status()
        switch status.kind {
        case .socket: break
        case .symbolicLink: throw SystemError(call: "openat", errno: Syscall.ELOOP, path: name)
        default: throw SystemError(call: "connect", errno: ENOTSOCK, path: name)
        }
        let connection = try Syscall.call("connect", path: name) {
            CCulvert.culvert_unix_connect_without_waiting("/proc/self/fd/\(fd)")
        }
        return (Descriptor(rawValue: connection), status)
    }
}
