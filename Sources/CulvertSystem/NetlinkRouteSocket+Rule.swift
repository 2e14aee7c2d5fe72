// NetlinkRouteSocket+Rule: policy routing rules for full-tunnel profiles, as wg-quick sets them up:
//
//     priority 32700: lookup main suppress_prefixlength 0   (main's specific routes win, its default does not)
//     priority 32701: not fwmark M lookup T                  (everything unmarked goes to the tunnel's table)
//
// The provider's protected socket carries mark M, so it skips the tunnel's table and never loops.
// The kill switch (KillSwitchRules) adds `fwmark M lookup main`, `to PREFIX lookup main` and an
// `unreachable` rule (FR_ACT_UNREACHABLE), so rules here also select by mark and destination.
// libnl-route 3.7's rule object can set neither FIB_RULE_INVERT ("not") nor FRA_SUPPRESS_PREFIXLEN,
// so rule messages are built and parsed here with libnl's generic message API on the same socket.

import CNetlink

#if canImport(Glibc)
    import Glibc
#endif

/// `FR_ACT_TO_TBL` of <linux/fib_rules.h>: "lookup <table>".
private let ruleActionLookupTable: UInt8 = 1
/// `FR_ACT_UNREACHABLE`: "unreachable" — the lookup fails with ENETUNREACH.
private let ruleActionUnreachable: UInt8 = 7
/// `FIB_RULE_INVERT`: the selector is negated ("not fwmark").
private let ruleFlagInvert: UInt32 = 0x2
/// Every bit of the firewall mark is compared.
private let fullFirewallMarkMask: UInt32 = 0xFFFF_FFFF

/// A policy routing rule: "lookup `table`" at `priority`, for packets the selector picks.
public struct PolicyRule: Sendable, Hashable, CustomStringConvertible {
    /// Which packets the rule picks, beyond "all of them".
    public enum Selector: Sendable, Hashable {
        /// Packets whose firewall mark is not exactly this value (`not fwmark X`).
        case notFirewallMark(UInt32)
        /// Packets whose firewall mark is exactly this value (`fwmark X`).
        case firewallMark(UInt32)
        /// Packets to an address inside this prefix (`to PREFIX`).
        case destination(IPPrefix)
        /// All packets, but a route found in the table with a prefix length of this or less is ignored
        /// (`suppress_prefixlength N`): with 0, every route except the default one applies.
        case suppressPrefixLength(UInt8)
    }

    /// What the rule does with the packets it picks.
    public enum Action: Sendable, Hashable {
        /// Look the route up in `table` (FR_ACT_TO_TBL); if it has none, the next rule is tried.
        case lookup
        /// Fail the lookup: the sender gets ENETUNREACH (FR_ACT_UNREACHABLE). `table` is unused (0).
        case unreachable
    }

    public var family: IPFamily
    public var priority: UInt32
    public var table: UInt32
    public var action: Action
    /// nil for a rule that picks every packet. (Rules of other programs, listed by `rules(protocolID:)`,
    /// may use selectors Culvert does not model; they are listed with nil.)
    public var selector: Selector?
    public var protocolID: UInt8

    public init(
        family: IPFamily, priority: UInt32, table: UInt32, selector: Selector?, protocolID: UInt8 = CulvertNetlink.routeProtocol,
        action: Action = .lookup
    ) {
        self.family = family
        self.priority = priority
        self.table = action == .unreachable ? 0 : table
        self.selector = selector
        self.protocolID = protocolID
        self.action = action
    }

    /// An `unreachable` rule at `priority` for every packet of `family`.
    public static func unreachable(family: IPFamily, priority: UInt32, protocolID: UInt8 = CulvertNetlink.routeProtocol) -> PolicyRule {
        PolicyRule(family: family, priority: priority, table: 0, selector: nil, protocolID: protocolID, action: .unreachable)
    }

    /// As `ip rule` would print it.
    public var description: String {
        let head = "\(family.rawValue) \(priority):"
        let act = action == .unreachable ? "unreachable" : "lookup \(table)"
        switch selector {
        case .notFirewallMark(let mark): return "\(head) not fwmark \(mark) \(act) proto \(protocolID)"
        case .firewallMark(let mark): return "\(head) fwmark \(mark) \(act) proto \(protocolID)"
        case .destination(let prefix): return "\(head) to \(prefix) \(act) proto \(protocolID)"
        case .suppressPrefixLength(let length): return "\(head) \(act) suppress_prefixlength \(length) proto \(protocolID)"
        case nil: return "\(head) \(act) proto \(protocolID)"
        }
    }
}

extension NetlinkRouteSocket {
    /// Sends one RTM_NEWRULE or RTM_DELRULE message for `rule` and waits for the kernel's answer.
    private func sendRule(_ rule: PolicyRule, messageType: Int32, flags: Int32, operation: String) throws(NetlinkError) {
        guard let message = nlmsg_alloc_simple(messageType, flags) else {
            throw NetlinkError(operation: "nlmsg_alloc_simple", code: NLE_NOMEM)
        }
        var header = fib_rule_hdr()
        header.family = UInt8(rule.family.addressFamily)
        header.action = rule.action == .unreachable ? ruleActionUnreachable : ruleActionLookupTable
        // Tables above 255 travel only in FRA_TABLE; the header's 8-bit field then says "unspecified".
        header.table = rule.table < 256 ? UInt8(rule.table) : 0
        if case .notFirewallMark = rule.selector { header.flags = ruleFlagInvert }
        if case .destination(let prefix) = rule.selector { header.dst_len = UInt8(prefix.length) }
        var rc = nlmsg_append(message, &header, MemoryLayout<fib_rule_hdr>.size, Int32(NLMSG_ALIGNTO))
        if rc >= 0 { rc = nla_put_u32(message, Int32(FRA_PRIORITY), rule.priority) }
        if rc >= 0, rule.action == .lookup { rc = nla_put_u32(message, Int32(FRA_TABLE), rule.table) }
        if rc >= 0 { rc = nla_put_u8(message, Int32(FRA_PROTOCOL), rule.protocolID) }
        switch rule.selector {
        case .notFirewallMark(let mark), .firewallMark(let mark):
            if rc >= 0 { rc = nla_put_u32(message, Int32(FRA_FWMARK), mark) }
            if rc >= 0 { rc = nla_put_u32(message, Int32(FRA_FWMASK), fullFirewallMarkMask) }
        case .destination(let prefix):
            if rc >= 0 {
                rc = prefix.address.bytes.withUnsafeBytes { nla_put(message, Int32(FRA_DST), Int32($0.count), $0.baseAddress) }
            }
        case .suppressPrefixLength(let length):
            if rc >= 0 { rc = nla_put_u32(message, Int32(FRA_SUPPRESS_PREFIXLEN), UInt32(length)) }
        case nil:
            break
        }
        guard rc >= 0 else {
            nlmsg_free(message)
            throw NetlinkError(operation: "build \(operation) \(rule)", code: rc)
        }
        let sent = nl_send_sync(socket, message)  // frees the message
        guard sent >= 0 else { throw NetlinkError(operation: "\(operation) \(rule)", code: sent) }
    }

    /// Adds `rule`. Fails with NLE_EXIST if an identical rule is already there.
    /// The corresponding C function is `nl_send_sync` with an RTM_NEWRULE message.
    public func addRule(_ rule: PolicyRule) throws(NetlinkError) {
        try sendRule(rule, messageType: Int32(RTM_NEWRULE), flags: NLM_F_CREATE | NLM_F_EXCL, operation: "add rule")
    }

    /// Removes the first rule matching `rule`'s family, priority, table, protocol and (when set) selector.
    /// The corresponding C function is `nl_send_sync` with an RTM_DELRULE message.
    public func removeRule(_ rule: PolicyRule) throws(NetlinkError) {
        try sendRule(rule, messageType: Int32(RTM_DELRULE), flags: 0, operation: "remove rule")
    }

    /// Every IPv4 and IPv6 rule whose protocol is `protocolID` (Culvert's by default), with its selector.
    /// The corresponding C functions are `nl_send_simple` (RTM_GETRULE dump) and `nl_recvmsgs`.
    public func rules(protocolID: UInt8 = CulvertNetlink.routeProtocol) throws(NetlinkError) -> [PolicyRule] {
        var request = fib_rule_hdr()  // family AF_UNSPEC: every family's rules
        let sent = nl_send_simple(socket, Int32(RTM_GETRULE), NLM_F_DUMP, &request, MemoryLayout<fib_rule_hdr>.size)
        guard sent >= 0 else { throw NetlinkError(operation: "dump rules", code: sent) }
        guard let socketCallbacks = nl_socket_get_cb(socket) else { throw NetlinkError(operation: "nl_socket_get_cb", code: NLE_NOMEM) }
        defer { nl_cb_put(socketCallbacks) }
        // A clone, so the socket's own handlers (used to wait for ACKs) stay as they are.
        guard let callbacks = nl_cb_clone(socketCallbacks) else { throw NetlinkError(operation: "nl_cb_clone", code: NLE_NOMEM) }
        defer { nl_cb_put(callbacks) }
        let collector = RuleCollector()
        let rc = withExtendedLifetime(collector) { () -> Int32 in
            nl_cb_set(
                callbacks, NL_CB_VALID, NL_CB_CUSTOM,
                { message, argument in
                    // Both are non-nil: libnl passes the message it parsed and the argument given below.
                    let collector = Unmanaged<RuleCollector>.fromOpaque(argument!).takeUnretainedValue()
                    collector.collect(message!)
                    return Int32(NL_OK.rawValue)
                }, Unmanaged.passUnretained(collector).toOpaque())
            return nl_recvmsgs(socket, callbacks)
        }
        guard rc >= 0 else { throw NetlinkError(operation: "dump rules", code: rc) }
        return collector.rules.filter { $0.protocolID == protocolID }
    }
}

/// The rules of one RTM_GETRULE dump, parsed message by message in libnl's callback.
private final class RuleCollector {
    var rules: [PolicyRule] = []

    func collect(_ message: OpaquePointer) {
        guard let header = nlmsg_hdr(message), let payload = nlmsg_data(header) else { return }
        let rule = payload.loadUnaligned(as: fib_rule_hdr.self)
        let family: IPFamily
        switch Int32(rule.family) {
        case IPFamily.ipv4.addressFamily: family = .ipv4
        case IPFamily.ipv6.addressFamily: family = .ipv6
        default: return
        }
        let lastAttribute = Int(__FRA_MAX) - 1
        var attributes = [UnsafeMutablePointer<nlattr>?](repeating: nil, count: lastAttribute + 1)
        guard nlmsg_parse(header, Int32(MemoryLayout<fib_rule_hdr>.size), &attributes, Int32(lastAttribute), nil) >= 0 else { return }
        func u32(_ type: Int) -> UInt32? { attributes[type].map { nla_get_u32($0) } }
        var selector: PolicyRule.Selector?
        if let length = u32(Int(FRA_SUPPRESS_PREFIXLEN)), length != UInt32.max {  // the kernel reports -1 for "none"
            selector = .suppressPrefixLength(UInt8(truncatingIfNeeded: length))
        } else if let mark = u32(Int(FRA_FWMARK)) {
            selector = rule.flags & ruleFlagInvert != 0 ? .notFirewallMark(mark) : .firewallMark(mark)
        } else if let attribute = attributes[Int(FRA_DST)], rule.flags & ruleFlagInvert == 0 {
            let length = Int(nla_len(attribute))
            let bytes = [UInt8](UnsafeRawBufferPointer(start: nla_data(attribute), count: max(length, 0)))
            if let address = IPAddress(bytes: bytes), let prefix = try? IPPrefix(address: address, length: Int(rule.dst_len)) {
                selector = .destination(prefix)  // try?: a prefix Culvert could not have sent stays unmodelled (nil)
            }
        }
        let action: PolicyRule.Action
        switch rule.action {
        case ruleActionLookupTable: action = .lookup
        case ruleActionUnreachable: action = .unreachable
        default: return  // blackhole, prohibit, goto, nop: never Culvert's
        }
        rules.append(
            PolicyRule(
                family: family, priority: u32(Int(FRA_PRIORITY)) ?? 0, table: u32(Int(FRA_TABLE)) ?? UInt32(rule.table),
                selector: selector, protocolID: attributes[Int(FRA_PROTOCOL)].map { nla_get_u8($0) } ?? 0, action: action))
    }
}
