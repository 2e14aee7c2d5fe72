// TunnelSettingsPlan: a provider's SetTunnelNetworkSettings parameters checked and turned into the
// network steps culvertd applies as one transaction (contract 8). Nothing here touches the kernel.
//
// Routing follows wg-quick: included routes other than the default go into the main table
// through the TUN; a default route makes a full tunnel — it goes into Culvert's own table behind
// `lookup main suppress_prefixlength 0` and `not fwmark M lookup T`, so sockets the provider
// protected (marked M) keep using the main table and never loop. Excluded routes are `throw`
// routes in that table: their lookup falls through to the main table.
//
// A session whose kill switch is held (KillSwitchRules) routes only through its own table T_k:
// included routes, the default route and the addresses' networks go there, and no full-tunnel rule
// is added — the kill switch's `lookup T_k` rule already sends everything there, and what T_k has
// no route for (excluded routes' `throw`, anything outside a split tunnel) reaches `unreachable`.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire

/// Why settings were refused; the wire's `ProviderError.invalidSettings`.
struct InvalidTunnelSettings: Error, Equatable, CustomStringConvertible {
    enum Reason: String {
        case invalidPrefix = "invalid_prefix"
        case invalidAddress = "invalid_address"
        case overlaps
        case wrongFamily = "wrong_family"
        case mtuOutOfRange = "mtu_out_of_range"
        case mtuTooSmallForIPv6 = "mtu_too_small_for_ipv6"
        case tooMany = "too_many"
        /// A text longer than its named limit (ProviderTextLimits).
        case tooLong = "too_long"
        case fullTunnelInUse = "full_tunnel_in_use"
        case requiresFullTunnel = "requires_full_tunnel"
        case invalidDNS = "invalid_dns"
        /// Overlaps an address or route another live session applied (SettingsConflicts).
        case conflictsWithSession = "conflicts_with_session"
        /// Would take over the host's own network: a connected prefix, a gateway, or the route to
        /// any session's protected endpoint (SettingsConflicts).
        case capturesUnderlay = "captures_underlay"
        /// Touches loopback, link-local, multicast or another reserved range (SettingsConflicts).
        case reservedPrefix = "reserved_prefix"
        /// Not a NetworkSettings value at all; a call validated against the interface never is.
        case malformed
    }
    var field: String
    var reason: Reason
    var detail: String
    var description: String { "\(field): \(reason.rawValue) (\(detail))" }

    var varlinkError: VarlinkError {
        ProviderError.invalidSettings(field: field, reason: reason.rawValue, description: detail).varlinkError
    }
}

/// What a session's settings amount to.
struct TunnelSettingsPlan: Equatable {
    /// Most addresses, included and excluded routes per family.
    static let maximumEntriesPerList = 256

    var steps: [NetworkStep] = []
    var mtu: Int?
    var tunnelRemoteAddress: String?
    var addresses: [InterfaceAddress] = []
    var includedRoutes: [IPPrefix] = []
    var excludedRoutes: [IPPrefix] = []
    var fullTunnel = false
    var dns: TunnelDNSSettings?

    /// Checks `settings` (a validated `NetworkSettings` value) for the TUN `interfaceIndex`.
    init(settings: JSONValue, interfaceIndex: Int32, fullTunnelAvailable: Bool, killSwitchTable: UInt32? = nil)
        throws(InvalidTunnelSettings)
    {
        let decoded: NetworkSettings
        do { decoded = try NetworkSettings(json: settings) } catch {
            throw InvalidTunnelSettings(field: "settings", reason: .malformed, detail: error.description)
        }
        try self.init(
            settings: decoded, interfaceIndex: interfaceIndex, fullTunnelAvailable: fullTunnelAvailable, killSwitchTable: killSwitchTable)
    }

    /// Checks `settings` for the TUN `interfaceIndex`. `fullTunnelAvailable` is false while
    /// another session routes everything. `killSwitchTable`: the session's kill switch table, when
    /// its kill switch is held; every route goes there.
    init(settings: NetworkSettings, interfaceIndex: Int32, fullTunnelAvailable: Bool, killSwitchTable: UInt32? = nil)
        throws(InvalidTunnelSettings)
    {
        if let remote = settings.tunnelRemoteAddress, remote.utf8.count > ProviderTextLimits.maximumRemoteAddressBytes {
            throw InvalidTunnelSettings(
                field: "tunnelRemoteAddress", reason: .tooLong, detail: "at most \(ProviderTextLimits.maximumRemoteAddressBytes) bytes")
        }
        tunnelRemoteAddress = settings.tunnelRemoteAddress
        if let section = settings.dns {
            do {
                dns = try TunnelDNSSettings(
                    serverTexts: section.servers, searchDomains: section.searchDomains ?? [], matchDomains: section.matchDomains ?? [])
            } catch {
                let field: String
                if case .invalidSetting(let which, _, _) = error {
                    field = "dns." + (which == .searchDomains ? "searchDomains" : which == .matchDomains ? "matchDomains" : "servers")
                } else {
                    field = "dns"
                }
                throw InvalidTunnelSettings(field: field, reason: .invalidDNS, detail: error.description)
            }
        }
        let hasIPv6 = settings.ipv6 != nil
        if let value = settings.mtu {
            guard (Int64(CulvertNetlink.minimumMTU)...Int64(CulvertNetlink.maximumMTU)).contains(value) else {
                throw InvalidTunnelSettings(
                    field: "mtu", reason: .mtuOutOfRange,
                    detail: "\(value) is outside \(CulvertNetlink.minimumMTU)…\(CulvertNetlink.maximumMTU)")
            }
            guard !hasIPv6 || value >= Int64(CulvertNetlink.minimumIPv6MTU) else {
                throw InvalidTunnelSettings(
                    field: "mtu", reason: .mtuTooSmallForIPv6, detail: "IPv6 needs at least \(CulvertNetlink.minimumIPv6MTU)")
            }
            mtu = Int(value)
            steps.append(.setMTU(Int(value), interfaceIndex: interfaceIndex))
        }
        var routeSteps: [NetworkStep] = []
        for family in [IPFamily.ipv4, .ipv6] {
            let key = family == .ipv4 ? "ipv4" : "ipv6"
            guard let section = family == .ipv4 ? settings.ipv4 : settings.ipv6 else { continue }
            let familyAddresses = try Self.addresses(section.addresses, field: "\(key).addresses", family: family)
            let included = try Self.prefixes(section.includedRoutes ?? [], field: "\(key).includedRoutes", family: family)
            let excluded = try Self.prefixes(section.excludedRoutes ?? [], field: "\(key).excludedRoutes", family: family)
            let isFull = included.contains(.defaultRoute(family))
            if isFull && !fullTunnelAvailable {
                throw InvalidTunnelSettings(
                    field: "\(key).includedRoutes", reason: .fullTunnelInUse, detail: "another session already routes everything")
            }
            if !excluded.isEmpty && !isFull {
                throw InvalidTunnelSettings(
                    field: "\(key).excludedRoutes", reason: .requiresFullTunnel,
                    detail: "excluded routes carve out of a full tunnel; include \(IPPrefix.defaultRoute(family)) too")
            }
            for (index, prefix) in excluded.enumerated()
            where included.contains(where: { $0 != .defaultRoute(family) && $0.overlaps(prefix) }) {
                throw InvalidTunnelSettings(
                    field: "\(key).excludedRoutes[\(index)]", reason: .overlaps, detail: "\(prefix) overlaps an included route")
            }
            addresses += familyAddresses
            includedRoutes += included
            excludedRoutes += excluded
            fullTunnel = fullTunnel || isFull
            steps += familyAddresses.map { .addAddress($0, interfaceIndex: interfaceIndex) }
            if let table = killSwitchTable {
                routeSteps += included.map { .addRoute(NetworkRoute(destination: $0, interfaceIndex: interfaceIndex, table: table)) }
                // The kernel puts an address's network into main only, which the kill switch never consults.
                let networks = Set(familyAddresses.map(\.network)).filter {
                    $0.length < family.maximumPrefixLength && !included.contains($0)
                }
                routeSteps += networks.sorted { $0.description < $1.description }.map {
                    .addRoute(NetworkRoute(destination: $0, interfaceIndex: interfaceIndex, table: table))
                }
                routeSteps += excluded.map { .addRoute(NetworkRoute(destination: $0, interfaceIndex: 0, table: table, kind: .throw)) }
                continue
            }
            // The kernel already routes an address's own network to the TUN (the prefix route it adds
            // with the address, proto kernel): adding the same route again would fail EEXIST — the
            // everyday wg-quick shape `Address = 10.0.0.2/24`, `AllowedIPs = 10.0.0.0/24`. wg-quick
            // skips it the same way. Host addresses (/32, /128) get no prefix route, so nothing is skipped.
            let onLink = Set(familyAddresses.filter { $0.prefixLength < family.maximumPrefixLength }.map(\.network))
            for prefix in included where prefix != .defaultRoute(family) && !onLink.contains(prefix) {
                routeSteps.append(.addRoute(NetworkRoute(destination: prefix, interfaceIndex: interfaceIndex)))
            }
            if isFull {
                routeSteps += NetworkStep.fullTunnel(family: family, interfaceIndex: interfaceIndex)
                routeSteps += excluded.map {
                    .addRoute(NetworkRoute(destination: $0, interfaceIndex: 0, table: CulvertNetlink.fullTunnelTable, kind: .throw))
                }
            }
        }
        steps.append(.setLinkUp(true, interfaceIndex: interfaceIndex))
        steps += routeSteps
    }

    /// Routes as `ip route` users read them, for status.
    var routeDescriptions: [String] {
        includedRoutes.map(\.description) + excludedRoutes.map { "!\($0)" }
    }

    private static func list(_ items: [String], field: String) throws(InvalidTunnelSettings) -> [String] {
        guard items.count <= maximumEntriesPerList else {
            throw InvalidTunnelSettings(field: field, reason: .tooMany, detail: "at most \(maximumEntriesPerList)")
        }
        return items
    }

    private static func addresses(_ value: [String], field: String, family: IPFamily) throws(InvalidTunnelSettings)
        -> [InterfaceAddress]
    {
        var parsed: [InterfaceAddress] = []
        for (index, text) in try list(value, field: field).enumerated() {
            let address: InterfaceAddress
            do { address = try InterfaceAddress(text) } catch {
                throw InvalidTunnelSettings(field: "\(field)[\(index)]", reason: .invalidAddress, detail: error.description)
            }
            guard address.family == family else {
                throw InvalidTunnelSettings(field: "\(field)[\(index)]", reason: .wrongFamily, detail: "\(text) is not \(family.rawValue)")
            }
            if parsed.contains(where: { $0.address == address.address || $0.network.overlaps(address.network) }) {
                throw InvalidTunnelSettings(
                    field: "\(field)[\(index)]", reason: .overlaps, detail: "\(text) overlaps an address listed before it")
            }
            parsed.append(address)
        }
        return parsed
    }

    private static func prefixes(_ value: [String], field: String, family: IPFamily) throws(InvalidTunnelSettings) -> [IPPrefix] {
        var parsed: [IPPrefix] = []
        for (index, text) in try list(value, field: field).enumerated() {
            let prefix: IPPrefix
            do { prefix = try IPPrefix(text) } catch {
                throw InvalidTunnelSettings(field: "\(field)[\(index)]", reason: .invalidPrefix, detail: error.description)
            }
            guard prefix.family == family else {
                throw InvalidTunnelSettings(field: "\(field)[\(index)]", reason: .wrongFamily, detail: "\(text) is not \(family.rawValue)")
            }
            // The default route overlaps everything by design; it is the full-tunnel switch.
            if prefix != .defaultRoute(family), let other = parsed.first(where: { $0 != .defaultRoute(family) && $0.overlaps(prefix) }) {
                throw InvalidTunnelSettings(field: "\(field)[\(index)]", reason: .overlaps, detail: "\(text) overlaps \(other)")
            }
            if parsed.contains(prefix) {
                throw InvalidTunnelSettings(field: "\(field)[\(index)]", reason: .overlaps, detail: "\(text) is listed twice")
            }
            parsed.append(prefix)
        }
        return parsed
    }
}
