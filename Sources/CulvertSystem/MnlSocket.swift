// MnlSocket: a raw netlink socket through libmnl, for messages libnl-route does not model: open,
// bind, port id. KillSwitchFirewallSocket sends its nftables batches through one (NETLINK_NETFILTER).

import CMnl

/// One bound netlink socket of `protocol` (NETLINK_ROUTE by default).
public final class MnlSocket {
    /// libmnl's handle, for this module's senders (KillSwitchFirewallSocket).
    let socket: OpaquePointer

    /// Opens and binds with an automatic port id. The corresponding C functions are
    /// `mnl_socket_open` and `mnl_socket_bind`.
    public init(protocol netlinkProtocol: Int32 = NETLINK_ROUTE) throws(SystemError) {
        guard let socket = mnl_socket_open(netlinkProtocol) else {
            throw SystemError(call: "mnl_socket_open", errno: Syscall.currentErrno)
        }
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let code = Syscall.currentErrno
            mnl_socket_close(socket)
            throw SystemError(call: "mnl_socket_bind", errno: code)
        }
        self.socket = socket
    }

    deinit { mnl_socket_close(socket) }

    /// The port id the kernel assigned to this socket.
    public var portID: UInt32 { mnl_socket_get_portid(socket) }
}
