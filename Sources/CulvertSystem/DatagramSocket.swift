// DatagramSocket: a UDP socket for IPv4 or IPv6 — the socket a tunnel provider sends its
// encapsulated packets on. Batched I/O (sendmmsg/recvmmsg) is in DatagramSocket+Batch.swift.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

/// A datagram and who sent it, as `DatagramSocket.receive(maximumBytes:)` returns it.
public struct ReceivedDatagram: Sendable, Hashable {
    public var bytes: [UInt8]
    /// nil if the kernel named no sender.
    public var sender: IPEndpoint?
}

/// An open UDP socket. A value type: whoever opened it calls `close()` once.
public struct DatagramSocket: Sendable, Hashable {
    /// Close-on-exec.
    public let descriptor: Descriptor
    public let family: IPFamily

    /// Opens an unbound UDP socket of `family`. An IPv6 socket keeps the kernel's default
    /// (`net.ipv6.bindv6only`, normally dual-stack). The corresponding C function is `socket`.
    public static func open(_ family: IPFamily, nonblocking: Bool = false) throws(SystemError) -> DatagramSocket {
        let fd = try Syscall.call("socket") { culvert_udp_socket(family.addressFamily, nonblocking ? 1 : 0) }
        return DatagramSocket(descriptor: Descriptor(rawValue: fd), family: family)
    }

    /// Binds to `endpoint`; port 0 lets the kernel choose (see `localEndpoint()`).
    /// - Throws: `SystemError` (EADDRINUSE, EADDRNOTAVAIL for an address this namespace does not
    ///   have, EAFNOSUPPORT for an endpoint of the other family). The corresponding C function is `bind`.
    public func bind(to endpoint: IPEndpoint) throws(SystemError) {
        try requireFamily(of: endpoint, call: "bind")
        _ = try Syscall.call("bind", path: endpoint.description) {
            culvert_socket_bind(descriptor.rawValue, family.addressFamily, endpoint.address.bytes, endpoint.port)
        }
    }

    /// Sets the default destination and accepts datagrams only from it.
    /// The corresponding C function is `connect`.
    public func connect(to endpoint: IPEndpoint) throws(SystemError) {
        try requireFamily(of: endpoint, call: "connect")
        _ = try Syscall.call("connect", path: endpoint.description) {
            culvert_socket_connect(descriptor.rawValue, family.addressFamily, endpoint.address.bytes, endpoint.port)
        }
    }

    /// The address and port the socket is bound to (after `bind` with port 0: the port the kernel chose).
    /// The corresponding C function is `getsockname`.
    public func localEndpoint() throws(SystemError) -> IPEndpoint {
        try endpoint(remote: false, call: "getsockname")
    }

    /// The connected peer. Throws ENOTCONN if not connected. The corresponding C function is `getpeername`.
    public func remoteEndpoint() throws(SystemError) -> IPEndpoint {
        try endpoint(remote: true, call: "getpeername")
    }

    /// Sets or clears O_NONBLOCK: then `receive` and `receiveBatch` throw EAGAIN (`isWouldBlock`)
    /// instead of waiting.
    public func setNonblocking(_ on: Bool) throws(SystemError) { try descriptor.setNonblocking(on) }

    /// Sends one datagram to `destination`, or to the connected peer if nil. Returns the bytes sent
    /// (all of them). The corresponding C function is `sendto` (MSG_NOSIGNAL).
    public func send(_ datagram: [UInt8], to destination: IPEndpoint? = nil) throws(SystemError) -> Int {
        if let destination { try requireFamily(of: destination, call: "sendto") }
        let fd = descriptor.rawValue
        let family = destination.map { $0.family.addressFamily } ?? 0
        let address = destination?.address.bytes ?? []
        let port = destination?.port ?? 0
        return try Syscall.withBytes(datagram) { raw throws(SystemError) in
            try Syscall.call("sendto") { culvert_datagram_send(fd, raw.baseAddress, raw.count, family, address, port) }
        }
    }

    /// Receives one datagram of up to `maximumBytes`. A longer one is discarded and reported as
    /// EMSGSIZE. The corresponding C function is `recvfrom`.
    public func receive(maximumBytes: Int = PacketBatch.maximumPacketSize) throws(SystemError) -> ReceivedDatagram {
        var buffer = [UInt8](repeating: 0, count: max(1, maximumBytes))
        var senderFamily: Int32 = 0
        var senderAddress = [UInt8](repeating: 0, count: 16)
        var senderPort: UInt16 = 0
        var truncated: Int32 = 0
        let fd = descriptor.rawValue
        let n = try Syscall.withMutableBytes(&buffer) { raw throws(SystemError) in
            try Syscall.call("recvfrom") {
                culvert_datagram_receive(fd, raw.baseAddress, raw.count, &senderFamily, &senderAddress, &senderPort, &truncated)
            }
        }
        guard truncated == 0 else { throw SystemError(call: "recvfrom (datagram of \(n) bytes)", errno: Glibc.EMSGSIZE) }
        return ReceivedDatagram(
            bytes: Array(buffer.prefix(n)), sender: Self.endpoint(family: senderFamily, address: senderAddress[...], port: senderPort))
    }

    /// Sets the firewall mark (SO_MARK) of every packet the socket sends; needs CAP_NET_ADMIN.
    /// See `Descriptor.setFirewallMark(_:)`.
    public func setFirewallMark(_ mark: UInt32) throws(SystemError) { try descriptor.setFirewallMark(mark) }

    /// The socket's firewall mark; 0 when none was set.
    public func firewallMark() throws(SystemError) -> UInt32 { try descriptor.firewallMark() }

    /// The IP family of any descriptor — nil unless it is an AF_INET or AF_INET6 socket. culvertd
    /// asks before it marks a socket a provider handed it. See `Descriptor.ipSocketFamily()`.
    public static func socketFamily(of descriptor: Descriptor) throws(SystemError) -> IPFamily? {
        try descriptor.ipSocketFamily()
    }

    /// Takes `descriptor` (for example a socket an older provider version handed over) as a UDP
    /// socket; nil unless it is an AF_INET or AF_INET6 socket. The corresponding C function is `getsockopt`.
    public static func adopting(_ descriptor: Descriptor) throws(SystemError) -> DatagramSocket? {
        guard let family = try descriptor.ipSocketFamily() else { return nil }
        return DatagramSocket(descriptor: descriptor, family: family)
    }

    /// Closes the socket.
    public func close() { descriptor.close() }

    private func requireFamily(of endpoint: IPEndpoint, call: String) throws(SystemError) {
        guard endpoint.family == family else { throw SystemError(call: call, errno: Glibc.EAFNOSUPPORT, path: endpoint.description) }
    }

    private func endpoint(remote: Bool, call: String) throws(SystemError) -> IPEndpoint {
        var kernelFamily: Int32 = 0
        var address = [UInt8](repeating: 0, count: 16)
        var port: UInt16 = 0
        _ = try Syscall.call(call) { culvert_socket_address(descriptor.rawValue, remote ? 1 : 0, &kernelFamily, &address, &port) }
        // The socket is AF_INET or AF_INET6 (it was opened so), so the C side always fills an IP address.
        guard let endpoint = Self.endpoint(family: kernelFamily, address: address[...], port: port) else {
            throw SystemError(call: call, errno: Glibc.EAFNOSUPPORT)
        }
        return endpoint
    }

    /// An endpoint from the shim's (family, 16-byte address buffer, port); nil for family 0.
    static func endpoint(family: Int32, address: ArraySlice<UInt8>, port: UInt16) -> IPEndpoint? {
        let bytes: [UInt8]
        switch family {
        case CULVERT_FAMILY_IPV4: bytes = Array(address.prefix(4))
        case CULVERT_FAMILY_IPV6: bytes = Array(address.prefix(16))
        default: return nil
        }
        // Force unwrap: 4 or 16 bytes, the two sizes IPAddress(bytes:) accepts.
        return IPEndpoint(address: IPAddress(bytes: bytes)!, port: port)
    }
}
