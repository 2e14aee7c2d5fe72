// CulvertNetlink: the numbers by which Culvert recognises the routes and rules it owns, and the
// limits it enforces on network settings.

/// Constants shared by Culvert's netlink operations.
public enum CulvertNetlink {
    /// Route and rule protocol id (`rtm_protocol`, `FRA_PROTOCOL`) of everything Culvert creates, so
    /// a restarted culvertd can list and remove leftovers with `routes()` and `rules()`.
    /// 0x9c = 156: the kernel interprets only 0–4 (unspec, redirect, kernel, boot, static); higher values
    /// are registered in iproute2's `rt_protos` for other daemons (8–18, 42, 99, 186–192), and 156 is
    /// none of them. `ip route show proto 156` finds Culvert's routes.
    public static let routeProtocol: UInt8 = 0x9c
    /// The kernel's main routing table (RT_TABLE_MAIN).
    public static let mainTable: UInt32 = 254
    /// The default table and firewall mark of a full-tunnel profile: wg-quick uses one number for
    /// both (51820); Culvert uses its own, 0x9c00 | 0x43 ('C'), to coexist with wg-quick.
    public static let fullTunnelTable: UInt32 = 0x9c43
    /// Priority of the `lookup main suppress_prefixlength 0` rule (before the fwmark rule, and before
    /// the kernel's `lookup main` at 32766).
    public static let suppressRulePriority: UInt32 = 32_700
    /// Priority of the `not fwmark X lookup T` rule.
    public static let fullTunnelRulePriority: UInt32 = 32_701
    /// Smallest MTU accepted for a tunnel interface (IPv4's minimum datagram size is 68).
    public static let minimumMTU = 68
    /// Smallest MTU for an interface carrying IPv6 (RFC 8200).
    public static let minimumIPv6MTU = 1280
    /// Largest MTU accepted (an IP datagram's maximum size).
    public static let maximumMTU = 65_535
    /// Largest number of steps in one network transaction.
    public static let maximumTransactionSteps = 4096
}
