// NetlinkRouteSocket+Address: IPv4/IPv6 interface addresses through libnl-route-3, and the
// conversion of Culvert's typed addresses to libnl's `nl_addr` used by the route and rule files.

import CNetlink

extension IPAddress {
    /// A new libnl address (reference count 1; the caller puts it) with `prefixLength`.
    func makeNetlinkAddress(prefixLength: Int) throws(NetlinkError) -> OpaquePointer {
        let built = bytes.withUnsafeBytes { raw in
            nl_addr_build(family.addressFamily, raw.baseAddress, raw.count)
        }
        guard let built else { throw NetlinkError(operation: "nl_addr_build(\(self))", code: NLE_NOMEM) }
        nl_addr_set_prefixlen(built, Int32(prefixLength))
        return built
    }

    /// The address libnl holds in `address`, zero-padded to the family's size (libnl stores a
    /// default route's destination with length 0); nil for families Culvert does not configure.
    init?(netlinkAddress address: OpaquePointer) {
        let family: IPFamily
        switch nl_addr_get_family(address) {
        case IPFamily.ipv4.addressFamily: family = .ipv4
        case IPFamily.ipv6.addressFamily: family = .ipv6
        default: return nil
        }
        let length = min(Int(nl_addr_get_len(address)), family.byteCount)
        var bytes = [UInt8](repeating: 0, count: family.byteCount)
        if length > 0, let source = nl_addr_get_binary_addr(address) {
            bytes.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: source, count: length)) }
        }
        self.init(bytes: bytes)
    }
}

extension NetlinkRouteSocket {
    /// Builds the libnl address object for `address` on `interfaceIndex` and passes it to `send`.
    private func sendAddress(
        _ address: InterfaceAddress, interfaceIndex: Int32, operation: String,
        _ send: (OpaquePointer) -> Int32
    ) throws(NetlinkError) {
        guard let object = rtnl_addr_alloc() else { throw NetlinkError(operation: "rtnl_addr_alloc", code: NLE_NOMEM) }
        defer { rtnl_addr_put(object) }
        let local = try address.address.makeNetlinkAddress(prefixLength: address.prefixLength)
        defer { nl_addr_put(local) }  // rtnl_addr_set_local takes its own reference
        rtnl_addr_set_ifindex(object, interfaceIndex)
        rtnl_addr_set_family(object, address.family.addressFamily)
        let rc = rtnl_addr_set_local(object, local)
        guard rc >= 0 else { throw NetlinkError(operation: "rtnl_addr_set_local(\(address))", code: rc) }
        rtnl_addr_set_prefixlen(object, Int32(address.prefixLength))
        let sent = send(object)
        guard sent >= 0 else { throw NetlinkError(operation: "\(operation) \(address) (link \(interfaceIndex))", code: sent) }
    }

    /// Adds `address` to link `interfaceIndex`. Fails with NLE_EXIST if it is already there, so a
    /// transaction never claims (and later removes) an address it did not add.
    /// The corresponding C function is `rtnl_addr_add`.
    public func addAddress(_ address: InterfaceAddress, interfaceIndex: Int32) throws(NetlinkError) {
        try sendAddress(address, interfaceIndex: interfaceIndex, operation: "add address") { object in
            rtnl_addr_add(socket, object, NLM_F_EXCL)
        }
    }

    /// Removes `address` from link `interfaceIndex`. The corresponding C function is `rtnl_addr_delete`.
    public func removeAddress(_ address: InterfaceAddress, interfaceIndex: Int32) throws(NetlinkError) {
        try sendAddress(address, interfaceIndex: interfaceIndex, operation: "remove address") { object in
            rtnl_addr_delete(socket, object, 0)
        }
    }
}
