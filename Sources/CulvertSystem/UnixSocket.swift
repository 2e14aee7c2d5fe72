// UnixSocket: AF_UNIX stream sockets — listen, accept, connect, and the peer's credentials.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

/// Who is on the other end of a unix socket, as the kernel says (not as the peer claims).
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups (SO_PEERGROUPS).
    public var groups: [UInt32]
    /// True when the kernel handed us a pidfd for the peer (SO_PEERPIDFD): its pid cannot have been recycled.
    public var pidIsPinned: Bool

    public init(pid: Int32, uid: UInt32, gid: UInt32, groups: [UInt32], pidIsPinned: Bool) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.pidIsPinned = pidIsPinned
    }

    public var description: String { "pid=\(pid)\(pidIsPinned ? "(pidfd)" : "") uid=\(uid) gid=\(gid)" }
}

public enum UnixSocket {
    /// Longest path a sockaddr_un can hold, minus the terminating NUL.
    public static let maximumPathLength = 107

    /// Creates, binds and listens. The corresponding C functions are `socket`, `bind`, `listen`.
    public static func listen(path: String, backlog: Int32 = 128) throws(SystemError) -> Descriptor {
        let fd = try Syscall.call("bind", path: path) { CCulvert.culvert_unix_listen(path, backlog, 1) }
        return Descriptor(rawValue: fd)
    }

    /// Connects to a listening socket. Blocking unless `nonblocking`.
    public static func connect(path: String, nonblocking: Bool = false) throws(SystemError) -> Descriptor {
        let fd = try Syscall.call("connect", path: path) { CCulvert.culvert_unix_connect(path, nonblocking ? 1 : 0) }
        return Descriptor(rawValue: fd)
    }

    /// Accepts one connection as a non-blocking, close-on-exec descriptor; nil when none is pending.
    public static func accept(_ listener: Descriptor) throws(SystemError) -> Descriptor? {
        do {
            let fd = try Syscall.call("accept4") { CCulvert.culvert_accept(listener.rawValue) }
            return Descriptor(rawValue: fd)
        } catch  where error.isWouldBlock || error.errno == ECONNABORTED {
            return nil
        }
    }

    /// True if a listening socket can no longer accept: after shutdown() it polls as hung up
    /// while accept() keeps answering EAGAIN, so only poll tells. The corresponding C function is `poll`.
    public static func listenerHasHungUp(_ fd: Descriptor) -> Bool {
        var pfd = pollfd(fd: fd.rawValue, events: 0, revents: 0)
        guard poll(&pfd, 1, 0) == 1 else { return false }
        return pfd.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0
    }

    /// True if `fd` is a listening AF_UNIX stream socket (for validating LISTEN_FDS).
    public static func isListener(_ fd: Descriptor) throws(SystemError) -> Bool {
        try Syscall.callAllowingBadDescriptor("getsockopt") { CCulvert.culvert_is_unix_listener(fd.rawValue) } == 1
    }

    /// The peer's pid, uid, gid, groups; SO_PEERPIDFD is tried and its pidfd closed at once.
    public static func peerCredentials(_ fd: Descriptor) throws(SystemError) -> PeerCredentials {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        _ = try Syscall.call("getsockopt(SO_PEERCRED)") { CCulvert.culvert_peer_credentials(fd.rawValue, &pid, &uid, &gid) }
        var groups = [UInt32](repeating: 0, count: 64)
        var count = Int32(groups.count)
        if CCulvert.culvert_peer_groups(fd.rawValue, &groups, &count) != 0 {
            if Glibc.errno == ERANGE, count > 0, count <= 65536 {
                groups = [UInt32](repeating: 0, count: Int(count))
                if CCulvert.culvert_peer_groups(fd.rawValue, &groups, &count) != 0 { count = 0 }
            } else {
                count = 0
            }
        }
        let pidfd = CCulvert.culvert_peer_pidfd(fd.rawValue)
        if pidfd >= 0 { Glibc.close(pidfd) }
        return PeerCredentials(
            pid: pid, uid: uid, gid: gid, groups: Array(groups.prefix(Int(max(0, count)))), pidIsPinned: pidfd >= 0)
    }
}
