// SettingsConflicts: the cross-session check of a provider's settings (issue 11, item 5). A plan
// that passed TunnelSettingsPlan's own checks is refused if it would hurt anyone else: overlap an
// address or route another live session applied (`conflicts_with_session`), take over the host's
// own network — a connected prefix, a gateway, or the route to any session's protected endpoint —
// (`captures_underlay`), or touch a reserved range (`reserved_prefix`).
//
// Pure: the caller (SessionSupervisor+ProviderCalls) reads the sessions and the kernel once and
// hands values in, so every rule is unit-tested without root. Hand-written: the rules are Culvert's.
//
// What is checked is every prefix the settings put into the main table: each included route and
// each address's network (the kernel adds that connected route itself). The default routes
// 0.0.0.0/0 and ::/0 are not: a full tunnel goes through policy routing (its own table behind
// `suppress_prefixlength 0` and `not fwmark`), so protected sockets, the underlay and other
// sessions' more specific routes keep working. Excluded routes only hand lookups back to the main
// table and cannot capture anything; they are not checked.

import CulvertSystem

/// What another live session holds, as the check sees it.
struct SessionFootprint: Equatable {
    /// The session's profile name, for the refusal's description.
    var name: String
    var addresses: [InterfaceAddress] = []
    /// Its included routes (a default route among them is skipped: it lives in the full-tunnel table).
    var routes: [IPPrefix] = []
    /// The remote addresses its provider's protected sockets talk to, and its `tunnelRemoteAddress`.
    var protectedEndpoints: [IPAddress] = []
}

/// The host's own network — every interface that is not a Culvert TUN — read once per check.
struct UnderlayView: Equatable {
    /// The networks of the addresses on those interfaces (their connected prefixes).
    var connectedPrefixes: [IPPrefix] = []
    /// Next hops of the routes through them.
    var gateways: [IPAddress] = []

    /// Built from what netlink reports, leaving out the links in `tunnels`.
    init(addresses: [LinkAddress], gatewayRoutes: [GatewayRoute], tunnels: Set<Int32>) {
        connectedPrefixes = addresses.filter { !tunnels.contains($0.interfaceIndex) }.map(\.address.network)
        gateways = gatewayRoutes.filter { !tunnels.contains($0.interfaceIndex) }.map(\.gateway)
    }

    init(connectedPrefixes: [IPPrefix] = [], gateways: [IPAddress] = []) {
        self.connectedPrefixes = connectedPrefixes
        self.gateways = gateways
    }
}

/// Ranges no tunnel may address or route: the named table behind `reserved_prefix`.
enum ReservedPrefixes {
    /// (range, what it is). The default routes contain all of these and are allowed.
    static let table: [(prefix: IPPrefix, name: String)] = [
        ("0.0.0.0/8", "this network"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "limited broadcast"),
        ("::1/128", "loopback"),
        ("fe80::/10", "link-local"),
        ("ff00::/8", "multicast"),
    ].map { text, name in
        // Force try: constant texts, each a valid prefix (ReservedPrefixesTests parses them all).
        (try! IPPrefix(text), name)
    }

    /// The first reserved range `prefix` overlaps, if any.
    static func touched(by prefix: IPPrefix) -> (prefix: IPPrefix, name: String)? {
        table.first { $0.prefix.overlaps(prefix) }
    }
}

enum SettingsConflicts {
    /// Refuses `plan` if it would hurt another session or the host. `ownEndpoints` are the remote
    /// addresses of the session's own protected sockets and its tunnelRemoteAddress (a route
    /// through its own TUN to them would loop); `others` every other live session.
    static func check(
        _ plan: TunnelSettingsPlan, ownEndpoints: [IPAddress], others: [SessionFootprint], underlay: UnderlayView
    ) throws(InvalidTunnelSettings) {
        let endpoints =
            ownEndpoints.map { (address: $0, owner: "this session") }
            + others.flatMap { other in other.protectedEndpoints.map { (address: $0, owner: "session \(other.name)") } }
        for (field, prefix, text) in candidates(plan) {
            if let reserved = ReservedPrefixes.touched(by: prefix) {
                throw InvalidTunnelSettings(
                    field: field, reason: .reservedPrefix, detail: "\(text) touches \(reserved.prefix) (\(reserved.name))")
            }
            for other in others {
                let theirs = other.addresses.map(\.network) + other.routes.filter { $0.length > 0 }
                if let hit = theirs.first(where: { $0.overlaps(prefix) }) {
                    throw InvalidTunnelSettings(
                        field: field, reason: .conflictsWithSession, detail: "\(text) overlaps \(hit) of session \(other.name)")
                }
            }
            if let endpoint = endpoints.first(where: { prefix.contains($0.address) }) {
                throw InvalidTunnelSettings(
                    field: field, reason: .capturesUnderlay,
                    detail: "\(text) contains \(endpoint.address), a protected endpoint of \(endpoint.owner)")
            }
            if let gateway = underlay.gateways.first(where: { prefix.contains($0) }) {
                throw InvalidTunnelSettings(
                    field: field, reason: .capturesUnderlay, detail: "\(text) contains the underlay gateway \(gateway)")
            }
            if let connected = underlay.connectedPrefixes.first(where: { $0.overlaps(prefix) }) {
                throw InvalidTunnelSettings(
                    field: field, reason: .capturesUnderlay, detail: "\(text) overlaps the underlay's \(connected)")
            }
        }
    }

    /// Every prefix the plan puts into the main table, with its wire field and its text as given:
    /// each address's network, then each included route other than the default.
    static func candidates(_ plan: TunnelSettingsPlan) -> [(field: String, prefix: IPPrefix, text: String)] {
        var found: [(field: String, prefix: IPPrefix, text: String)] = []
        for family in IPFamily.allCases {
            let key = family == .ipv4 ? "ipv4" : "ipv6"
            for (index, address) in plan.addresses.filter({ $0.family == family }).enumerated() {
                found.append(("\(key).addresses[\(index)]", address.network, address.description))
            }
            for (index, route) in plan.includedRoutes.filter({ $0.family == family }).enumerated() where route.length > 0 {
                found.append(("\(key).includedRoutes[\(index)]", route, route.description))
            }
        }
        return found
    }
}
