// NetlinkRouteSocket: a NETLINK_ROUTE socket through libnl-route-3. Today it answers link
// lookups (culvertd checks at start that rtnetlink works); the tunnels issue grows it into
// TUN, address, route and rule transactions. libnl's NLE_* codes stop here as NetlinkError.

import CNetlink

/// A libnl operation that failed, with libnl's own message.
public struct NetlinkError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    /// libnl's error code (positive NLE_* value).
    public var code: Int32
    public var message: String

    init(operation: String, code: Int32) {
        self.operation = operation
        self.code = abs(code)
        self.message = nl_geterror(abs(code)).map { String(cString: $0) } ?? "libnl error \(abs(code))"
    }

    public var description: String { "\(operation): \(message)" }

    /// The object to add is already there (NLE_EXIST).
    public var isAlreadyPresent: Bool { code == NLE_EXIST }
    /// The object to remove is not there (NLE_OBJ_NOTFOUND, the kernel's ENOENT).
    public var isNotFound: Bool { code == NLE_OBJ_NOTFOUND }
}

/// One connected rtnetlink socket. Not thread-safe: one owner at a time.
public final class NetlinkRouteSocket {
    /// The libnl socket; internal so the `NetlinkRouteSocket+*.swift` operation files can use it.
    let socket: OpaquePointer

    /// Allocates and connects the socket. The corresponding C functions are `nl_socket_alloc`, `nl_connect`.
    public init() throws(NetlinkError) {
        guard let socket = nl_socket_alloc() else { throw NetlinkError(operation: "nl_socket_alloc", code: NLE_NOMEM) }
        let rc = nl_connect(socket, NETLINK_ROUTE)
        guard rc >= 0 else {
            nl_socket_free(socket)
            throw NetlinkError(operation: "nl_connect", code: rc)
        }
        self.socket = socket
    }

    deinit { nl_socket_free(socket) }  // closes the socket too

    /// The interface index of `name`, or nil if there is no such link in this network namespace.
    public func interfaceIndex(named name: String) throws(NetlinkError) -> Int32? {
        var link: OpaquePointer?
        let rc = rtnl_link_get_kernel(socket, 0, name, &link)
        if rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV { return nil }
        guard rc >= 0, let link else { throw NetlinkError(operation: "rtnl_link_get_kernel(\(name))", code: rc) }
        defer { rtnl_link_put(link) }
        return rtnl_link_get_ifindex(link)
    }
}
