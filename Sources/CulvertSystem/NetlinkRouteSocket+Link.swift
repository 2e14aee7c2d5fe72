// NetlinkRouteSocket+Link: link state (MTU, up/down) and counters through libnl-route-3.

import CNetlink

/// `IFF_UP` of <net/if.h>: the administrative "up" flag of an interface.
private let interfaceFlagUp: UInt32 = 0x1

/// The administrative state of a link that a transaction may change and must be able to restore.
public struct LinkState: Sendable, Hashable {
    public var mtu: Int
    public var isUp: Bool
}

/// Traffic counters of a link since it was created.
public struct LinkCounters: Sendable, Hashable {
    public var receivedBytes: UInt64
    public var receivedPackets: UInt64
    public var transmittedBytes: UInt64
    public var transmittedPackets: UInt64
}

extension NetlinkRouteSocket {
    /// Runs `body` with the kernel's current view of link `interfaceIndex`.
    /// Throws NLE_OBJ_NOTFOUND (or NLE_NODEV) if there is no such link.
    private func withLink<R>(
        _ interfaceIndex: Int32, _ body: (OpaquePointer) throws(NetlinkError) -> R
    ) throws(NetlinkError) -> R {
        var link: OpaquePointer?
        let rc = rtnl_link_get_kernel(socket, interfaceIndex, nil, &link)
        guard rc >= 0, let link else { throw NetlinkError(operation: "rtnl_link_get_kernel(\(interfaceIndex))", code: rc) }
        defer { rtnl_link_put(link) }
        return try body(link)
    }

    /// Sends the changes `configure` makes to an empty link object to link `interfaceIndex`.
    private func changeLink(
        _ interfaceIndex: Int32, operation: String, _ configure: (OpaquePointer) -> Void
    ) throws(NetlinkError) {
        try withLink(interfaceIndex) { (original) throws(NetlinkError) in
            guard let change = rtnl_link_alloc() else { throw NetlinkError(operation: "rtnl_link_alloc", code: NLE_NOMEM) }
            defer { rtnl_link_put(change) }
            configure(change)
            let rc = rtnl_link_change(socket, original, change, 0)
            guard rc >= 0 else { throw NetlinkError(operation: "\(operation)(\(interfaceIndex))", code: rc) }
        }
    }

    /// The MTU and up/down state of link `interfaceIndex`. The corresponding C function is `rtnl_link_get_kernel`.
    public func linkState(interfaceIndex: Int32) throws(NetlinkError) -> LinkState {
        try withLink(interfaceIndex) { link in
            LinkState(mtu: Int(rtnl_link_get_mtu(link)), isUp: rtnl_link_get_flags(link) & interfaceFlagUp != 0)
        }
    }

    /// Sets the MTU of link `interfaceIndex`. The corresponding C function is `rtnl_link_change`.
    public func setMTU(_ mtu: Int, interfaceIndex: Int32) throws(NetlinkError) {
        guard let value = UInt32(exactly: mtu) else { throw NetlinkError(operation: "set MTU \(mtu)", code: NLE_RANGE) }
        try changeLink(interfaceIndex, operation: "set MTU \(mtu)") { rtnl_link_set_mtu($0, value) }
    }

    /// Brings link `interfaceIndex` administratively up or down. The corresponding C function is `rtnl_link_change`.
    public func setLinkUp(_ up: Bool, interfaceIndex: Int32) throws(NetlinkError) {
        try changeLink(interfaceIndex, operation: up ? "set link up" : "set link down") { change in
            if up { rtnl_link_set_flags(change, interfaceFlagUp) } else { rtnl_link_unset_flags(change, interfaceFlagUp) }
        }
    }

    /// The rx/tx byte and packet counters of link `interfaceIndex`. The corresponding C function is `rtnl_link_get_stat`.
    public func linkCounters(interfaceIndex: Int32) throws(NetlinkError) -> LinkCounters {
        try withLink(interfaceIndex) { link in
            LinkCounters(
                receivedBytes: rtnl_link_get_stat(link, RTNL_LINK_RX_BYTES),
                receivedPackets: rtnl_link_get_stat(link, RTNL_LINK_RX_PACKETS),
                transmittedBytes: rtnl_link_get_stat(link, RTNL_LINK_TX_BYTES),
                transmittedPackets: rtnl_link_get_stat(link, RTNL_LINK_TX_PACKETS))
        }
    }
}
