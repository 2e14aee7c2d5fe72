// NetlinkRouteSocket+Underlay: read-only dumps of every interface address and every gateway of
// every route, through libnl-route-3 — what culvertd's cross-session settings check needs to know
// of the host's own network (the underlay) before a provider's routes may go in.

import CNetlink

#if canImport(Glibc)
    import Glibc
#endif

/// An address on a link, as the kernel reports it.
public struct LinkAddress: Sendable, Hashable {
    public var interfaceIndex: Int32
    public var address: InterfaceAddress

    public init(interfaceIndex: Int32, address: InterfaceAddress) {
        self.interfaceIndex = interfaceIndex
        self.address = address
    }
}

/// A next hop with a gateway: some route leaves through link `interfaceIndex` via `gateway`.
public struct GatewayRoute: Sendable, Hashable {
    public var interfaceIndex: Int32
    public var gateway: IPAddress

    public init(interfaceIndex: Int32, gateway: IPAddress) {
        self.interfaceIndex = interfaceIndex
        self.gateway = gateway
    }
}

extension NetlinkRouteSocket {
    /// Every IPv4 and IPv6 address on every link. The corresponding C function is `rtnl_addr_alloc_cache`.
    public func allAddresses() throws(NetlinkError) -> [LinkAddress] {
        var cache: OpaquePointer?
        let rc = rtnl_addr_alloc_cache(socket, &cache)
        guard rc >= 0, let cache else { throw NetlinkError(operation: "rtnl_addr_alloc_cache", code: rc) }
        defer { nl_cache_free(cache) }
        var found: [LinkAddress] = []
        var object = nl_cache_get_first(cache)
        while let entry = object {  // bounded: the cache is a finite list
            object = nl_cache_get_next(entry)
            // try?: a prefix length out of range is not an address this check can reason about.
            guard let local = rtnl_addr_get_local(entry), let address = IPAddress(netlinkAddress: local),
                let interfaceAddress = try? InterfaceAddress(address: address, prefixLength: Int(rtnl_addr_get_prefixlen(entry)))
            else { continue }
            found.append(LinkAddress(interfaceIndex: Int32(rtnl_addr_get_ifindex(entry)), address: interfaceAddress))
        }
        return found
    }

    /// The gateway of every next hop of every route in every table, whoever added it.
    /// The corresponding C function is `rtnl_route_alloc_cache`.
    public func gatewayRoutes() throws(NetlinkError) -> [GatewayRoute] {
        var cache: OpaquePointer?
        let rc = rtnl_route_alloc_cache(socket, AF_UNSPEC, 0, &cache)
        guard rc >= 0, let cache else { throw NetlinkError(operation: "rtnl_route_alloc_cache", code: rc) }
        defer { nl_cache_free(cache) }
        var found: [GatewayRoute] = []
        var object = nl_cache_get_first(cache)
        while let route = object {  // bounded: the cache is a finite list
            object = nl_cache_get_next(route)
            for index in 0..<max(0, rtnl_route_get_nnexthops(route)) {
                guard let nexthop = rtnl_route_nexthop_n(route, index), let gateway = rtnl_route_nh_get_gateway(nexthop),
                    let address = IPAddress(netlinkAddress: gateway)
                else { continue }
                found.append(GatewayRoute(interfaceIndex: rtnl_route_nh_get_ifindex(nexthop), gateway: address))
            }
        }
        return found
    }
}
