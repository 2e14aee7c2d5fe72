// Descriptor+IPSocket: what culvertd may do to a socket a provider hands it over SCM_RIGHTS —
// check that it is an IP socket, and "protect" it with the firewall mark that lets its packets skip
// the full-tunnel rule `not fwmark 0x9c43 lookup 0x9c43`.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

extension Descriptor {
    /// The socket's address family: `.ipv4` (AF_INET) or `.ipv6` (AF_INET6); nil for any other
    /// socket (AF_UNIX, AF_NETLINK, …) and for a descriptor that is not a socket at all.
    /// - Throws: `SystemError` from `getsockopt` for anything but ENOTSOCK.
    /// The corresponding C function is `getsockopt(SO_DOMAIN)`.
    public func ipSocketFamily() throws(SystemError) -> IPFamily? {
        let domain: Int32
        do throws(SystemError) {
            domain = try Syscall.call("getsockopt(SO_DOMAIN)") { culvert_socket_domain(rawValue) }
        } catch  where error.errno == Glibc.ENOTSOCK {
            return nil
        }
        switch domain {
        case CULVERT_FAMILY_IPV4: return .ipv4
        case CULVERT_FAMILY_IPV6: return .ipv6
        default: return nil
        }
    }

    /// Sets the socket's firewall mark (`SO_MARK`); every packet it sends carries it, which is what
    /// routing rules such as `not fwmark M lookup T` match. Needs CAP_NET_ADMIN.
    /// - Throws: `SystemError` (EPERM without the capability, ENOTSOCK for a non-socket).
    /// The corresponding C function is `setsockopt(SO_MARK)`.
    public func setFirewallMark(_ mark: UInt32) throws(SystemError) {
        _ = try Syscall.call("setsockopt(SO_MARK)") { culvert_socket_set_mark(rawValue, mark) }
    }

    /// Sets the socket's receive and send buffers to `bytes` each, past the system's
    /// `net.core.rmem_max`/`wmem_max` (`SO_RCVBUFFORCE`/`SO_SNDBUFFORCE`). Needs CAP_NET_ADMIN, so an
    /// unprivileged provider cannot do it itself. The corresponding C function is `setsockopt`.
    public func forceBufferSizes(_ bytes: Int) throws(SystemError) {
        let size = Int32(clamping: bytes)
        _ = try Syscall.call("setsockopt(SO_RCVBUFFORCE)") { culvert_socket_force_buffer(rawValue, 1, size) }
        _ = try Syscall.call("setsockopt(SO_SNDBUFFORCE)") { culvert_socket_force_buffer(rawValue, 0, size) }
    }

    /// The socket's receive and send buffer sizes as the kernel reports them (twice what was set:
    /// the kernel counts its bookkeeping). The corresponding C function is `getsockopt(SO_RCVBUF/SO_SNDBUF)`.
    public func bufferSizes() throws(SystemError) -> (receive: Int, send: Int) {
        var receive: Int32 = 0
        var send: Int32 = 0
        _ = try Syscall.call("getsockopt(SO_RCVBUF)") { culvert_socket_buffer(rawValue, 1, &receive) }
        _ = try Syscall.call("getsockopt(SO_SNDBUF)") { culvert_socket_buffer(rawValue, 0, &send) }
        return (Int(receive), Int(send))
    }

    /// The socket's firewall mark; 0 when none was set. The corresponding C function is `getsockopt(SO_MARK)`.
    public func firewallMark() throws(SystemError) -> UInt32 {
        var mark: UInt32 = 0
        _ = try Syscall.call("getsockopt(SO_MARK)") { culvert_socket_get_mark(rawValue, &mark) }
        return mark
    }

    /// The remote address of a connected IP socket — an IPv4-mapped IPv6 peer as the IPv4 address
    /// it is —; nil when the socket is not connected (ENOTCONN) or not an IP socket.
    /// The corresponding C function is `getpeername`.
    public func connectedPeerAddress() throws(SystemError) -> IPAddress? {
        var family: Int32 = 0
        var address = [UInt8](repeating: 0, count: 16)
        var port: UInt16 = 0
        do throws(SystemError) {
            _ = try Syscall.call("getpeername") { culvert_socket_address(rawValue, 1, &family, &address, &port) }
        } catch  where error.errno == Glibc.ENOTCONN || error.errno == Glibc.EAFNOSUPPORT {
            return nil
        }
        guard let endpoint = DatagramSocket.endpoint(family: family, address: address[...], port: port) else { return nil }
        let bytes = endpoint.address.bytes
        if bytes.count == 16, bytes.prefix(10).allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            return IPAddress(bytes: Array(bytes.suffix(4)))
        }
        return endpoint.address
    }
}
