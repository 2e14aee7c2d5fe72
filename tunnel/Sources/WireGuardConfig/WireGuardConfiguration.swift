// WireGuardConfiguration: a WireGuard interface and its peers as one value — what culvertctl
// imports from a wg-quick file and what the provider reads from its profile (the option and
// secret names are in WireGuardConfiguration+Profile.swift and tunnel/README.md).
// Keys are WireGuardKey values, whose printing is redacted; so is this type's.

public struct WireGuardConfiguration: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The extension identifier of profiles in this schema.
    public static let extensionIdentifier = "io.culvert.wireguard"
    /// More peers than this are refused before anything else is looked at.
    public static let maximumPeers = 256
    public static let mtuRange = 576...65535
    public static let keepaliveRange = 1...65535

    public struct Interface: Sendable, Equatable {
        /// Secret.
        public var privateKey: WireGuardKey
        /// The tunnel device's addresses; at least one.
        public var addresses: [WireGuardCIDR]
        public var dnsServers: [WireGuardIPAddress]
        public var searchDomains: [String]
        /// 576–65535; nil lets the provider choose.
        public var mtu: Int?
        /// The UDP port to listen on; nil for an ephemeral one.
        public var listenPort: UInt16?

        public init(
            privateKey: WireGuardKey, addresses: [WireGuardCIDR], dnsServers: [WireGuardIPAddress] = [], searchDomains: [String] = [],
            mtu: Int? = nil, listenPort: UInt16? = nil
        ) {
            self.privateKey = privateKey
            self.addresses = addresses
            self.dnsServers = dnsServers
            self.searchDomains = searchDomains
            self.mtu = mtu
            self.listenPort = listenPort
        }
    }

    public struct Peer: Sendable, Equatable {
        public var publicKey: WireGuardKey
        /// Secret.
        public var presharedKey: WireGuardKey?
        /// Where to send the first handshake; nil for a peer that only answers (its endpoint is
        /// learnt from authenticated packets).
        public var endpoint: WireGuardEndpoint?
        /// Cryptokey routing: what this peer may send from and is sent to. `0.0.0.0/0` and `::/0`
        /// are full tunnel, carried by culvertd's policy routing.
        public var allowedIPs: [WireGuardCIDR]
        /// Seconds, 1–65535; nil for off.
        public var persistentKeepalive: Int?

        public init(
            publicKey: WireGuardKey, presharedKey: WireGuardKey? = nil, endpoint: WireGuardEndpoint? = nil,
            allowedIPs: [WireGuardCIDR] = [],
            persistentKeepalive: Int? = nil
        ) {
            self.publicKey = publicKey
            self.presharedKey = presharedKey
            self.endpoint = endpoint
            self.allowedIPs = allowedIPs
            self.persistentKeepalive = persistentKeepalive
        }
    }

    public var interface: Interface
    public var peers: [Peer]

    /// A configuration as given; `validate()` checks it against the schema and the profile limits.
    public init(interface: Interface, peers: [Peer]) {
        self.interface = interface
        self.peers = peers
    }

    /// Checks what the types alone do not: at least one address, the ranges, valid search
    /// domains, at most `maximumPeers` peers, and that the profile fits `ProfileLimits`.
    public func validate() throws(WireGuardConfigError) {
        guard !interface.addresses.isEmpty else { throw .missingOption(ProfileKey.address) }
        if let mtu = interface.mtu, !Self.mtuRange.contains(mtu) {
            throw .invalidValue(option: ProfileKey.mtu, reason: "must be \(Self.mtuRange.lowerBound)–\(Self.mtuRange.upperBound)")
        }
        if interface.listenPort == 0 { throw .invalidValue(option: ProfileKey.listenPort, reason: "must be 1–65535") }
        if let bad = interface.searchDomains.firstIndex(where: { !DomainName.isValid($0) }) {
            throw .invalidValue(option: ProfileKey.dnsSearch, reason: "entry \(bad + 1) is not a domain name")
        }
        guard peers.count <= Self.maximumPeers else { throw .tooManyPeers(count: peers.count, maximum: Self.maximumPeers) }
        for (index, peer) in peers.enumerated() {
            if let keepalive = peer.persistentKeepalive, !Self.keepaliveRange.contains(keepalive) {
                throw .invalidValue(option: ProfileKey.peer(index, .persistentKeepalive), reason: "must be 1–65535 seconds")
            }
        }
        try ProfileFit.check(options: profileOptions, secrets: profileSecrets)
    }

    public var description: String {
        let peerList = peers.map(\.description).joined(separator: ", ")
        return "WireGuardConfiguration(\(interface), peers: [\(peerList)])"
    }

    public var debugDescription: String { description }
}

extension WireGuardConfiguration.Interface: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        var parts = ["privateKey: (redacted)", "addresses: \(Self.list(addresses))"]
        if !dnsServers.isEmpty { parts.append("dns: \(Self.list(dnsServers))") }
        if !searchDomains.isEmpty { parts.append("search: \(searchDomains.joined(separator: ","))") }
        if let mtu { parts.append("mtu: \(mtu)") }
        if let listenPort { parts.append("listenPort: \(listenPort)") }
        return "Interface(" + parts.joined(separator: ", ") + ")"
    }

    public var debugDescription: String { description }

    static func list(_ items: [some CustomStringConvertible]) -> String { items.map(\.description).joined(separator: ",") }
}

extension WireGuardConfiguration.Peer: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        var parts = ["publicKey: (redacted)"]
        if presharedKey != nil { parts.append("presharedKey: (redacted)") }
        if let endpoint { parts.append("endpoint: \(endpoint)") }
        parts.append("allowedIPs: \(WireGuardConfiguration.Interface.list(allowedIPs))")
        if let persistentKeepalive { parts.append("persistentKeepalive: \(persistentKeepalive)") }
        return "Peer(" + parts.joined(separator: ", ") + ")"
    }

    public var debugDescription: String { description }
}
