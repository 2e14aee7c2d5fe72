// NetworkSettings: io.culvert.Provider's SetTunnelNetworkSettings and the provider's other
// requests to culvertd (Protect takes no parameters: its socket rides as a descriptor).

import CulvertVarlink

/// Everything a provider asks culvertd to configure (`NetworkSettings`). Values stay strings:
/// culvertd parses and validates each one and names the offending field.
public struct NetworkSettings: WireValue, Hashable {
    /// Addresses and routes of one IP family (`IPSettings`).
    public struct IP: WireValue, Hashable {
        public var addresses: [String]
        public var includedRoutes: [String]?
        public var excludedRoutes: [String]?

        public init(addresses: [String], includedRoutes: [String]? = nil, excludedRoutes: [String]? = nil) {
            self.addresses = addresses
            self.includedRoutes = includedRoutes
            self.excludedRoutes = excludedRoutes
        }
    }

    /// Name resolution while the tunnel is up (`DNSSettings`).
    public struct DNS: WireValue, Hashable {
        public var servers: [String]
        public var searchDomains: [String]?
        public var matchDomains: [String]?

        public init(servers: [String], searchDomains: [String]? = nil, matchDomains: [String]? = nil) {
            self.servers = servers
            self.searchDomains = searchDomains
            self.matchDomains = matchDomains
        }
    }

    public var tunnelRemoteAddress: String?
    public var mtu: Int64?
    public var ipv4: IP?
    public var ipv6: IP?
    public var dns: DNS?

    public init(tunnelRemoteAddress: String? = nil, mtu: Int64? = nil, ipv4: IP? = nil, ipv6: IP? = nil, dns: DNS? = nil) {
        self.tunnelRemoteAddress = tunnelRemoteAddress
        self.mtu = mtu
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.dns = dns
    }
}

/// `SetTunnelNetworkSettings(settings)`; nil removes the settings applied before.
public struct SetTunnelNetworkSettingsParameters: WireValue, Hashable {
    public var settings: NetworkSettings?

    public init(settings: NetworkSettings?) {
        self.settings = settings
    }

    // Removal is sent as an explicit null.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(settings, forKey: .settings)
    }
}

/// `SetReasserting(reasserting)`.
public struct SetReassertingParameters: WireValue, Hashable {
    public var reasserting: Bool

    public init(reasserting: Bool) {
        self.reasserting = reasserting
    }
}

/// `CancelTunnel(error)`.
public struct CancelTunnelParameters: WireValue, Hashable {
    public var error: String?

    public init(error: String?) {
        self.error = error
    }

    // No error text is sent as an explicit null.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(error, forKey: .error)
    }
}
