// NetworkStep: one change to the kernel's network configuration, as a value, with its inverse.
// NetworkTransaction applies a list of them and uses the inverses to roll back.

/// One change to a link, address, route or rule.
public enum NetworkStep: Sendable, Hashable, CustomStringConvertible {
    case setMTU(Int, interfaceIndex: Int32)
    /// Setting a link down also makes the kernel drop its IPv6 addresses and every route through it.
    /// Undoing a step that set it up is therefore harmless (later removals of those objects count as
    /// done), but undoing a step that set it down does not bring them back: tear down routes and
    /// addresses before the link.
    case setLinkUp(Bool, interfaceIndex: Int32)
    case addAddress(InterfaceAddress, interfaceIndex: Int32)
    case removeAddress(InterfaceAddress, interfaceIndex: Int32)
    case addRoute(NetworkRoute)
    case removeRoute(NetworkRoute)
    case addRule(PolicyRule)
    case removeRule(PolicyRule)

    /// The default route and the two rules of a full-tunnel profile for `family`, in the order to
    /// apply them (wg-quick's recipe): the default route into `table`, `lookup main
    /// suppress_prefixlength 0`, then `not fwmark firewallMark lookup table`.
    public static func fullTunnel(
        family: IPFamily, interfaceIndex: Int32, table: UInt32 = CulvertNetlink.fullTunnelTable,
        firewallMark: UInt32 = CulvertNetlink.fullTunnelTable
    ) -> [NetworkStep] {
        [
            .addRoute(NetworkRoute(destination: .defaultRoute(family), interfaceIndex: interfaceIndex, table: table)),
            .addRule(
                PolicyRule(
                    family: family, priority: CulvertNetlink.suppressRulePriority, table: CulvertNetlink.mainTable,
                    selector: .suppressPrefixLength(0))),
            .addRule(
                PolicyRule(
                    family: family, priority: CulvertNetlink.fullTunnelRulePriority, table: table,
                    selector: .notFirewallMark(firewallMark))),
        ]
    }

    public var description: String {
        switch self {
        case .setMTU(let mtu, let index): return "set MTU \(mtu) on link #\(index)"
        case .setLinkUp(let up, let index): return "set link #\(index) \(up ? "up" : "down")"
        case .addAddress(let address, let index): return "add address \(address) to link #\(index)"
        case .removeAddress(let address, let index): return "remove address \(address) from link #\(index)"
        case .addRoute(let route): return "add route \(route)"
        case .removeRoute(let route): return "remove route \(route)"
        case .addRule(let rule): return "add rule \(rule)"
        case .removeRule(let rule): return "remove rule \(rule)"
        }
    }

    /// True for the steps that take an object away.
    var isRemoval: Bool {
        switch self {
        case .removeAddress, .removeRoute, .removeRule: return true
        case .setMTU, .setLinkUp, .addAddress, .addRoute, .addRule: return false
        }
    }

    /// Performs the step on `socket` and returns the step that undoes it. Link changes read the
    /// current value first, so their inverse restores exactly what was there.
    func apply(on socket: NetlinkRouteSocket) throws(NetlinkError) -> NetworkStep {
        switch self {
        case .setMTU(let mtu, let index):
            let previous = try socket.linkState(interfaceIndex: index).mtu
            try socket.setMTU(mtu, interfaceIndex: index)
            return .setMTU(previous, interfaceIndex: index)
        case .setLinkUp(let up, let index):
            let previous = try socket.linkState(interfaceIndex: index).isUp
            try socket.setLinkUp(up, interfaceIndex: index)
            return .setLinkUp(previous, interfaceIndex: index)
        case .addAddress(let address, let index):
            try socket.addAddress(address, interfaceIndex: index)
            return .removeAddress(address, interfaceIndex: index)
        case .removeAddress(let address, let index):
            try socket.removeAddress(address, interfaceIndex: index)
            return .addAddress(address, interfaceIndex: index)
        case .addRoute(let route):
            try socket.addRoute(route)
            return .removeRoute(route)
        case .removeRoute(let route):
            try socket.removeRoute(route)
            return .addRoute(route)
        case .addRule(let rule):
            try socket.addRule(rule)
            return .removeRule(rule)
        case .removeRule(let rule):
            try socket.removeRule(rule)
            return .addRule(rule)
        }
    }
}
