// NetworkStep+IPCommand: a step as the iproute2 command line that makes the same change, for
// logs and for golden tests that pin down what a tunnel's settings do to the kernel. Running the
// line instead of the step gives the same kernel state (NetworkStepIPCommandTests checks this in
// a private namespace). `description` stays as it is: it travels in SettingsFailed's `step`.

extension NetworkStep {
    /// The step as an `ip` command line, with links named `if<index>` (iproute2 reads that form as
    /// an interface index when no link has that name).
    public var ipCommand: String { ipCommand(interfaceName: { _ in nil }) }

    /// The step as an `ip` command line; `interfaceName` names link indexes (nil: `if<index>`).
    ///
    ///     ip link set dev cvt0 mtu 1420
    ///     ip -4 address add 10.77.0.2/24 dev cvt0
    ///     ip -4 route add 0.0.0.0/0 dev cvt0 table 40003 proto 156
    ///     ip -4 rule add not fwmark 0x9c43 table 40003 priority 32701 proto 156
    public func ipCommand(interfaceName: (Int32) -> String?) -> String {
        func device(_ index: Int32) -> String { "dev " + (interfaceName(index) ?? "if\(index)") }
        switch self {
        case .setMTU(let mtu, let index):
            return "ip link set \(device(index)) mtu \(mtu)"
        case .setLinkUp(let up, let index):
            return "ip link set \(device(index)) \(up ? "up" : "down")"
        case .addAddress(let address, let index):
            return "ip \(Self.familyOption(address.family)) address add \(address) \(device(index))"
        case .removeAddress(let address, let index):
            return "ip \(Self.familyOption(address.family)) address del \(address) \(device(index))"
        case .addRoute(let route):
            return "ip \(Self.familyOption(route.family)) route add \(Self.arguments(of: route, device: device))"
        case .removeRoute(let route):
            return "ip \(Self.familyOption(route.family)) route del \(Self.arguments(of: route, device: device))"
        case .addRule(let rule):
            return "ip \(Self.familyOption(rule.family)) rule add \(Self.arguments(of: rule))"
        case .removeRule(let rule):
            return "ip \(Self.familyOption(rule.family)) rule del \(Self.arguments(of: rule))"
        }
    }

    private static func familyOption(_ family: IPFamily) -> String { family == .ipv4 ? "-4" : "-6" }

    /// iproute2's names for the kernel's reserved tables (rt_tables), numbers for the rest.
    private static func tableName(_ table: UInt32) -> String {
        switch table {
        case CulvertNetlink.mainTable: return "main"
        case 253: return "default"
        case 255: return "local"
        default: return "\(table)"
        }
    }

    /// "[throw] DEST [dev NAME] [table T] [metric M] [scope link] proto P": the main table and
    /// metric 0 are what `ip route` assumes when they are left out, so they are left out. libnl
    /// gives every route without a gateway scope link; `ip` does so too, except for a throw route
    /// (scope global), so there the scope is spelled out.
    private static func arguments(of route: NetworkRoute, device: (Int32) -> String) -> String {
        var words = route.kind == .throw ? ["throw", "\(route.destination)"] : ["\(route.destination)"]
        if route.kind != .throw || route.interfaceIndex != 0 { words.append(device(route.interfaceIndex)) }
        if route.table != CulvertNetlink.mainTable { words += ["table", tableName(route.table)] }
        if route.metric != 0 { words += ["metric", "\(route.metric)"] }
        if route.kind == .throw { words += ["scope", "link"] }
        words += ["proto", "\(route.protocolID)"]
        return words.joined(separator: " ")
    }

    /// "[[not] fwmark 0xM | to PREFIX] table T|unreachable [suppress_prefixlength N] priority P proto P".
    /// A mark without a mask compares every bit, as the rule Culvert sends does.
    private static func arguments(of rule: PolicyRule) -> String {
        var words: [String] = []
        switch rule.selector {
        case .notFirewallMark(let mark): words += ["not", "fwmark", "0x" + String(mark, radix: 16)]
        case .firewallMark(let mark): words += ["fwmark", "0x" + String(mark, radix: 16)]
        case .destination(let prefix): words += ["to", "\(prefix)"]
        case .suppressPrefixLength, nil: break
        }
        words += rule.action == .unreachable ? ["unreachable"] : ["table", tableName(rule.table)]
        if case .suppressPrefixLength(let length) = rule.selector { words += ["suppress_prefixlength", "\(length)"] }
        words += ["priority", "\(rule.priority)", "proto", "\(rule.protocolID)"]
        return words.joined(separator: " ")
    }
}
