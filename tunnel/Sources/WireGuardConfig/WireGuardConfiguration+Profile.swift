// The profile schema of io.culvert.wireguard: a WireGuardConfiguration as a culvertd profile's
// options (plain strings, shown to root by `profile show`) and secrets (write-only), and back.
// The provider calls init(options:secrets:); culvertctl's import writes profileOptions and
// profileSecrets. Schema table: tunnel/README.md.

import CulvertCore

/// The option and secret names of the schema.
public enum ProfileKey {
    public static let address = "address"
    public static let dns = "dns"
    public static let dnsSearch = "dns-search"
    public static let mtu = "mtu"
    public static let listenPort = "listen-port"
    /// Secret.
    public static let privateKey = "private-key"

    public enum PeerField: String, Sendable, CaseIterable {
        case publicKey = "public-key"
        case endpoint
        case allowedIPs = "allowed-ips"
        case persistentKeepalive = "persistent-keepalive"
        /// Secret.
        case presharedKey = "preshared-key"
    }

    /// `peer.N.field`.
    public static func peer(_ index: Int, _ field: PeerField) -> String { "peer.\(index).\(field.rawValue)" }

    static let interfaceOptions: Set<String> = [address, dns, dnsSearch, mtu, listenPort]

    /// The peer number and field of `peer.N.field` (N decimal without leading zeros, below the
    /// peer maximum); nil for any other name.
    static func parsePeer(_ key: String) -> (index: Int, field: PeerField)? {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "peer", (1...3).contains(parts[1].utf8.count),
            parts[1].utf8.allSatisfy(WireGuardIPAddress.isDigit),
            parts[1] == "0" || parts[1].first != "0", let index = Int(parts[1]), index < WireGuardConfiguration.maximumPeers,
            let field = PeerField(rawValue: String(parts[2]))
        else { return nil }
        return (index, field)
    }
}

extension WireGuardConfiguration {
    /// Whether `key` is an option of this schema (a provider that takes options of its own can
    /// set those apart before calling init(options:secrets:), which refuses unknown ones).
    public static func isProfileOption(_ key: String) -> Bool {
        if ProfileKey.interfaceOptions.contains(key) { return true }
        guard let peer = ProfileKey.parsePeer(key) else { return false }
        return peer.field != .presharedKey
    }

    /// Reads a profile. Refuses unknown options and secrets, a gap in the peer numbers, and any
    /// malformed value, naming the option; never quotes a value.
    public init(options: [String: String], secrets: [String: String]) throws(WireGuardConfigError) {
        var peerOptions: [Int: [ProfileKey.PeerField: String]] = [:]
        for (key, value) in options {
            if ProfileKey.interfaceOptions.contains(key) { continue }
            guard let peer = ProfileKey.parsePeer(key), peer.field != .presharedKey else { throw .unknownOption(key) }
            peerOptions[peer.index, default: [:]][peer.field] = value
        }
        var presharedKeys: [Int: String] = [:]
        for (key, value) in secrets where key != ProfileKey.privateKey {
            guard let peer = ProfileKey.parsePeer(key), peer.field == .presharedKey else { throw .unknownSecret(key) }
            presharedKeys[peer.index] = value
        }
        let peerCount = peerOptions.count
        for index in presharedKeys.keys where peerOptions[index] == nil {
            throw .missingOption(ProfileKey.peer(index, .publicKey))
        }
        if let missing = (0..<peerCount).first(where: { peerOptions[$0] == nil }) { throw .peersNotContiguous(missing: missing) }

        guard let privateKeyText = secrets[ProfileKey.privateKey] else { throw .missingSecret(ProfileKey.privateKey) }
        guard let privateKey = WireGuardKey(base64: privateKeyText) else { throw ValueParser.badKey(ProfileKey.privateKey) }
        guard let addressText = options[ProfileKey.address] else { throw .missingOption(ProfileKey.address) }
        let interface = Interface(
            privateKey: privateKey,
            addresses: try ValueParser.cidrs(addressText, option: ProfileKey.address),
            dnsServers: try options[ProfileKey.dns].map { v throws(WireGuardConfigError) in
                try ValueParser.addresses(v, option: ProfileKey.dns)
            }
                ?? [],
            searchDomains: try options[ProfileKey.dnsSearch].map { v throws(WireGuardConfigError) in
                try ValueParser.domains(v, option: ProfileKey.dnsSearch)
            } ?? [],
            mtu: try options[ProfileKey.mtu].map { v throws(WireGuardConfigError) in
                try ValueParser.integer(v, in: Self.mtuRange, option: ProfileKey.mtu)
            },
            listenPort: try options[ProfileKey.listenPort].map { v throws(WireGuardConfigError) in
                UInt16(try ValueParser.integer(v, in: 1...65535, option: ProfileKey.listenPort))
            })
        var peers: [Peer] = []
        for index in 0..<peerCount {
            // Non-nil: every index below peerCount was checked present above.
            let fields = peerOptions[index]!
            let keyName = ProfileKey.peer(index, .publicKey)
            guard let publicKeyText = fields[.publicKey] else { throw .missingOption(keyName) }
            guard let publicKey = WireGuardKey(base64: publicKeyText) else { throw ValueParser.badKey(keyName) }
            var presharedKey: WireGuardKey?
            if let text = presharedKeys[index] {
                guard let key = WireGuardKey(base64: text) else { throw ValueParser.badKey(ProfileKey.peer(index, .presharedKey)) }
                presharedKey = key
            }
            let endpointName = ProfileKey.peer(index, .endpoint)
            let keepaliveName = ProfileKey.peer(index, .persistentKeepalive)
            peers.append(
                Peer(
                    publicKey: publicKey, presharedKey: presharedKey,
                    endpoint: try fields[.endpoint].map { v throws(WireGuardConfigError) in
                        try ValueParser.endpoint(v, option: endpointName)
                    },
                    allowedIPs: try ValueParser.cidrs(
                        fields[.allowedIPs] ?? "", option: ProfileKey.peer(index, .allowedIPs), allowsEmpty: true),
                    persistentKeepalive: try fields[.persistentKeepalive].map { v throws(WireGuardConfigError) in
                        try ValueParser.integer(v, in: Self.keepaliveRange, option: keepaliveName)
                    }))
        }
        self.init(interface: interface, peers: peers)
        try validate()
    }

    /// The profile's options: every value canonical, so options → configuration → options is exact.
    public var profileOptions: [String: String] {
        var options = [ProfileKey.address: Interface.list(interface.addresses)]
        if !interface.dnsServers.isEmpty { options[ProfileKey.dns] = Interface.list(interface.dnsServers) }
        if !interface.searchDomains.isEmpty { options[ProfileKey.dnsSearch] = interface.searchDomains.joined(separator: ",") }
        if let mtu = interface.mtu { options[ProfileKey.mtu] = String(mtu) }
        if let port = interface.listenPort { options[ProfileKey.listenPort] = String(port) }
        for (index, peer) in peers.enumerated() {
            options[ProfileKey.peer(index, .publicKey)] = peer.publicKey.base64
            if let endpoint = peer.endpoint { options[ProfileKey.peer(index, .endpoint)] = endpoint.description }
            options[ProfileKey.peer(index, .allowedIPs)] = Interface.list(peer.allowedIPs)
            if let keepalive = peer.persistentKeepalive { options[ProfileKey.peer(index, .persistentKeepalive)] = String(keepalive) }
        }
        return options
    }

    /// The profile's secrets: the private key and each preshared key. Save them as secrets only.
    public var profileSecrets: [String: String] {
        var secrets = [ProfileKey.privateKey: interface.privateKey.base64]
        for (index, peer) in peers.enumerated() {
            if let psk = peer.presharedKey { secrets[ProfileKey.peer(index, .presharedKey)] = psk.base64 }
        }
        return secrets
    }
}

/// Whether options and secrets fit culvertd's ProfileLimits (checked here so an import fails
/// before anything is sent, naming the limit, rather than at the daemon).
enum ProfileFit {
    static func check(options: [String: String], secrets: [String: String]) throws(WireGuardConfigError) {
        guard options.count <= ProfileLimits.maximumOptions else {
            throw .exceedsProfileLimit(
                limit: "maximumOptions", subject: "options", needed: options.count, maximum: ProfileLimits.maximumOptions)
        }
        guard secrets.count <= ProfileLimits.maximumSecrets else {
            throw .exceedsProfileLimit(
                limit: "maximumSecrets", subject: "secrets", needed: secrets.count, maximum: ProfileLimits.maximumSecrets)
        }
        for (key, value) in options.sorted(by: { $0.key < $1.key }) where value.utf8.count > ProfileLimits.maximumOptionValueLength {
            throw .exceedsProfileLimit(
                limit: "maximumOptionValueLength", subject: "option \(key)", needed: value.utf8.count,
                maximum: ProfileLimits.maximumOptionValueLength)
        }
    }
}
