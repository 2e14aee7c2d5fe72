// NetlinkRouteSocket+Route: routes through a link, tagged with Culvert's route protocol, through
// libnl-route-3.

import CNetlink

#if canImport(Glibc)
    import Glibc
#endif

/// A route to `destination` through link `interfaceIndex` (no gateway: TUN interfaces are point-to-point),
/// or a `throw` route that sends the lookup on to the next policy rule.
public struct NetworkRoute: Sendable, Hashable, CustomStringConvertible {
    /// The route type (`rtm_type`).
    public enum Kind: UInt8, Sendable, Hashable {
        /// RTN_UNICAST: packets to the destination leave through the link.
        case unicast = 1
        /// RTN_THROW: the lookup in this table fails and the next rule is tried; how a full tunnel's
        /// excluded routes fall back to the main table. Has no link (`interfaceIndex` 0).
        case `throw` = 9
    }

    public var destination: IPPrefix
    public var interfaceIndex: Int32
    /// The routing table; `CulvertNetlink.mainTable` unless the route belongs to a full-tunnel table.
    public var table: UInt32
    /// The route's metric (priority). 0 lets the kernel choose (0 for IPv4, 1024 for IPv6).
    public var metric: UInt32
    /// The protocol tag; Culvert's own unless a caller removes someone else's route.
    public var protocolID: UInt8
    public var kind: Kind

    public init(
        destination: IPPrefix, interfaceIndex: Int32, table: UInt32 = CulvertNetlink.mainTable, metric: UInt32 = 0,
        protocolID: UInt8 = CulvertNetlink.routeProtocol, kind: Kind = .unicast
    ) {
        self.kind = kind
        self.destination = destination
        self.interfaceIndex = interfaceIndex
        self.table = table
        self.metric = metric
        self.protocolID = protocolID
    }

    public var family: IPFamily { destination.family }

    /// As `ip route` would print it.
    public var description: String {
        let head = kind == .throw ? "throw \(destination)" : "\(destination) dev #\(interfaceIndex)"
        return "\(head) table \(table) proto \(protocolID) metric \(metric)"
    }
}

extension NetlinkRouteSocket {
    /// Builds the libnl route object for `route` and passes it to `send`.
    private func sendRoute(
        _ route: NetworkRoute, operation: String, _ send: (OpaquePointer) -> Int32
    ) throws(NetlinkError) {
        guard let object = rtnl_route_alloc() else { throw NetlinkError(operation: "rtnl_route_alloc", code: NLE_NOMEM) }
        defer { rtnl_route_put(object) }  // frees the nexthop too
        let destination = try route.destination.address.makeNetlinkAddress(prefixLength: route.destination.length)
        defer { nl_addr_put(destination) }  // rtnl_route_set_dst takes its own reference
        _ = rtnl_route_set_family(object, UInt8(route.family.addressFamily))  // fails only for unknown families
        let rc = rtnl_route_set_dst(object, destination)
        guard rc >= 0 else { throw NetlinkError(operation: "rtnl_route_set_dst(\(route.destination))", code: rc) }
        rtnl_route_set_table(object, route.table)
        rtnl_route_set_protocol(object, route.protocolID)
        rtnl_route_set_priority(object, route.metric)
        _ = rtnl_route_set_type(object, route.kind.rawValue)  // fails only for types above RTN_MAX
        if route.kind == .throw {
            let sent = send(object)
            guard sent >= 0 else { throw NetlinkError(operation: "\(operation) \(route)", code: sent) }
            return
        }
        guard let nexthop = rtnl_route_nh_alloc() else { throw NetlinkError(operation: "rtnl_route_nh_alloc", code: NLE_NOMEM) }
        rtnl_route_nh_set_ifindex(nexthop, route.interfaceIndex)
        rtnl_route_add_nexthop(object, nexthop)  // the route owns the nexthop from here
        let sent = send(object)
        guard sent >= 0 else { throw NetlinkError(operation: "\(operation) \(route)", code: sent) }
    }

    /// Adds `route`. Fails with NLE_EXIST if the same route is already there.
    /// The corresponding C function is `rtnl_route_add`.
    public func addRoute(_ route: NetworkRoute) throws(NetlinkError) {
        try sendRoute(route, operation: "add route") { rtnl_route_add(socket, $0, NLM_F_EXCL) }
    }

    /// Removes `route` (matched by destination, table, protocol, metric and link).
    /// The corresponding C function is `rtnl_route_delete`.
    public func removeRoute(_ route: NetworkRoute) throws(NetlinkError) {
        try sendRoute(route, operation: "remove route") { rtnl_route_delete(socket, $0, 0) }
    }

    /// Every IPv4 and IPv6 route in every table whose protocol is `protocolID` (Culvert's by default),
    /// as the kernel reports it (IPv6 metrics included). The corresponding C function is `rtnl_route_alloc_cache`.
    public func routes(protocolID: UInt8 = CulvertNetlink.routeProtocol) throws(NetlinkError) -> [NetworkRoute] {
        var cache: OpaquePointer?
        let rc = rtnl_route_alloc_cache(socket, AF_UNSPEC, 0, &cache)
        guard rc >= 0, let cache else { throw NetlinkError(operation: "rtnl_route_alloc_cache", code: rc) }
        defer { nl_cache_free(cache) }
        var found: [NetworkRoute] = []
        var object = nl_cache_get_first(cache)
        while let route = object {  // bounded: the cache is a finite list
            object = nl_cache_get_next(route)
            // try?: a destination with host bits set is not a prefix Culvert creates, so not its route.
            guard rtnl_route_get_protocol(route) == protocolID, let dst = rtnl_route_get_dst(route),
                let address = IPAddress(netlinkAddress: dst),
                let destination = try? IPPrefix(address: address, length: Int(nl_addr_get_prefixlen(dst)))
            else { continue }
            let nexthop = rtnl_route_get_nnexthops(route) > 0 ? rtnl_route_nexthop_n(route, 0) : nil
            found.append(
                NetworkRoute(
                    destination: destination, interfaceIndex: nexthop.map { rtnl_route_nh_get_ifindex($0) } ?? 0,
                    table: rtnl_route_get_table(route), metric: rtnl_route_get_priority(route), protocolID: protocolID,
                    kind: rtnl_route_get_type(route) == NetworkRoute.Kind.throw.rawValue ? .throw : .unicast))
        }
        return found
    }
}
