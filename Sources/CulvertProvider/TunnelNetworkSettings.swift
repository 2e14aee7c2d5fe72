// TunnelNetworkSettings: what a provider asks culvertd to configure (NEPacketTunnelNetworkSettings).
// Strings on purpose: culvertd parses and validates every value and answers a typed
// `TunnelError.invalidSettings` naming the offending field.

import CulvertWire

/// Addresses and routes of one IP family.
public struct IPSettings: Sendable, Hashable {
    /// Interface addresses with prefix length, e.g. "10.9.0.2/24".
    public var addresses: [String]
    /// Destinations routed into the tunnel. "0.0.0.0/0" or "::/0" makes a full tunnel.
    public var includedRoutes: [String]
    /// With a full tunnel: destinations that keep their usual route.
    public var excludedRoutes: [String]

    public init(addresses: [String], includedRoutes: [String] = [], excludedRoutes: [String] = []) {
        self.addresses = addresses
        self.includedRoutes = includedRoutes
        self.excludedRoutes = excludedRoutes
    }

    var wire: NetworkSettings.IP {
        NetworkSettings.IP(addresses: addresses, includedRoutes: includedRoutes, excludedRoutes: excludedRoutes)
    }
}

/// Name resolution while the tunnel is up.
public struct DNSSettings: Sendable, Hashable {
    public var servers: [String]
    public var searchDomains: [String]
    /// When not empty, only names under these domains use the tunnel's servers.
    public var matchDomains: [String]

    public init(servers: [String], searchDomains: [String] = [], matchDomains: [String] = []) {
        self.servers = servers
        self.searchDomains = searchDomains
        self.matchDomains = matchDomains
    }

    var wire: NetworkSettings.DNS {
        NetworkSettings.DNS(servers: servers, searchDomains: searchDomains, matchDomains: matchDomains)
    }
}

public struct TunnelNetworkSettings: Sendable, Hashable {
    /// The peer's outer address, for display.
    public var tunnelRemoteAddress: String?
    public var mtu: Int?
    public var ipv4: IPSettings?
    public var ipv6: IPSettings?
    public var dns: DNSSettings?

    public init(
        tunnelRemoteAddress: String? = nil, mtu: Int? = nil, ipv4: IPSettings? = nil, ipv6: IPSettings? = nil, dns: DNSSettings? = nil
    ) {
        self.tunnelRemoteAddress = tunnelRemoteAddress
        self.mtu = mtu
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.dns = dns
    }

    /// The settings as io.culvert.Provider's `NetworkSettings`.
    var wire: NetworkSettings {
        NetworkSettings(
            tunnelRemoteAddress: tunnelRemoteAddress, mtu: mtu.map { Int64($0) }, ipv4: ipv4?.wire, ipv6: ipv6?.wire, dns: dns?.wire)
    }
}
