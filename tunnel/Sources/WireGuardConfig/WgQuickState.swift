// WgQuickState: the sections WgQuickParser has read so far — which keys each has had, and the
// values parsed from them — and the refusal rules of each key (what wg-quick would do with it).

struct WgQuickState {
    private enum Section {
        case none
        case interface
        case peer
    }

    private struct PendingInterface {
        var line: Int
        var privateKey: WireGuardKey?
        var addresses: [WireGuardCIDR] = []
        var dnsServers: [WireGuardIPAddress] = []
        var searchDomains: [String] = []
        var mtu: Int?
        var listenPort: UInt16?
    }

    private struct PendingPeer {
        var line: Int
        var publicKey: WireGuardKey?
        var presharedKey: WireGuardKey?
        var endpoint: WireGuardEndpoint?
        var allowedIPs: [WireGuardCIDR] = []
        var persistentKeepalive: Int?
    }

    private var section = Section.none
    private var interface: PendingInterface?
    private var peers: [WireGuardConfiguration.Peer] = []
    private var peer: PendingPeer?
    /// Lowercased single-valued keys seen in the current section.
    private var seen: Set<String> = []

    private static let commandKeys: Set<String> = ["preup", "postup", "predown", "postdown"]

    mutating func beginInterface(line: Int) throws(WgQuickError) {
        try finishPeer()
        guard interface == nil else { throw WgQuickError(line: line, .duplicateInterface) }
        interface = PendingInterface(line: line)
        section = .interface
        seen = []
    }

    mutating func beginPeer(line: Int) throws(WgQuickError) {
        try finishPeer()
        guard peers.count < WireGuardConfiguration.maximumPeers else {
            throw WgQuickError(line: line, .tooManyPeers(maximum: WireGuardConfiguration.maximumPeers))
        }
        peer = PendingPeer(line: line)
        section = .peer
        seen = []
    }

    mutating func apply(key: Substring, value: Substring, line: Int) throws(WgQuickError) {
        let name = key.lowercased()
        let shown = Shown.name(key)
        if Self.commandKeys.contains(name) { throw WgQuickError(line: line, .runsCommand(key: shown)) }
        if name == "saveconfig" { throw WgQuickError(line: line, .savesConfig) }
        let isRepeatable = ["address", "dns", "allowedips"].contains(name)
        func parsed<T>(_ body: () throws(WireGuardConfigError) -> T) throws(WgQuickError) -> T {
            do throws(WireGuardConfigError) { return try body() } catch {
                switch error {
                case .endpointIsHostName: throw WgQuickError(line: line, .endpointIsHostName(key: shown))
                case .invalidValue(_, let reason): throw WgQuickError(line: line, .invalidValue(key: shown, reason: reason))
                default: throw WgQuickError(line: line, .invalidValue(key: shown, reason: "is malformed"))
                }
            }
        }
        switch section {
        case .none: throw WgQuickError(line: line, .keyOutsideSection(shown))
        case .interface:
            // Non-nil: section is .interface only after beginInterface set it.
            var pending = interface!
            guard isRepeatable || seen.insert(name).inserted else { throw WgQuickError(line: line, .duplicateKey(shown)) }
            switch name {
            case "privatekey":
                pending.privateKey = try parsed { () throws(WireGuardConfigError) in try ValueParser.key(value, option: shown) }
            case "address":
                pending.addresses += try parsed { () throws(WireGuardConfigError) in try ValueParser.cidrs(String(value), option: shown) }
                try Self.checkCount(pending.addresses.count, key: shown, line: line)
            case "dns":
                for (index, entry) in ValueParser.entries(value).enumerated() {
                    if let address = WireGuardIPAddress(entry) {
                        pending.dnsServers.append(address)
                    } else if DomainName.isValid(entry) {
                        pending.searchDomains.append(String(entry))
                    } else {
                        throw WgQuickError(
                            line: line, .invalidValue(key: shown, reason: "entry \(index + 1) is neither an IP address nor a domain"))
                    }
                }
                try Self.checkCount(pending.dnsServers.count + pending.searchDomains.count, key: shown, line: line)
            case "mtu":
                pending.mtu = try parsed { () throws(WireGuardConfigError) in
                    try ValueParser.integer(value, in: WireGuardConfiguration.mtuRange, option: shown)
                }
            case "listenport":
                pending.listenPort = UInt16(
                    try parsed { () throws(WireGuardConfigError) in try ValueParser.integer(value, in: 1...65535, option: shown) })
            case "table":
                guard ["off", "auto"].contains(value.lowercased()) else { throw WgQuickError(line: line, .routingTable) }
            case "fwmark":
                guard Self.isZeroMark(value) else { throw WgQuickError(line: line, .firewallMark) }
            default: throw WgQuickError(line: line, .unknownKey(key: shown, section: "Interface"))
            }
            interface = pending
        case .peer:
            // Non-nil: section is .peer only after beginPeer set it.
            var pending = peer!
            guard isRepeatable || seen.insert(name).inserted else { throw WgQuickError(line: line, .duplicateKey(shown)) }
            switch name {
            case "publickey":
                pending.publicKey = try parsed { () throws(WireGuardConfigError) in try ValueParser.key(value, option: shown) }
            case "presharedkey":
                pending.presharedKey = try parsed { () throws(WireGuardConfigError) in try ValueParser.key(value, option: shown) }
            case "endpoint":
                pending.endpoint = try parsed { () throws(WireGuardConfigError) in try ValueParser.endpoint(value, option: shown) }
            case "allowedips":
                pending.allowedIPs += try parsed { () throws(WireGuardConfigError) in
                    try ValueParser.cidrs(String(value), option: shown, allowsEmpty: true)
                }
                try Self.checkCount(pending.allowedIPs.count, key: shown, line: line)
            case "persistentkeepalive":
                if value.lowercased() == "off" || value == "0" {
                    pending.persistentKeepalive = nil
                } else {
                    pending.persistentKeepalive = try parsed { () throws(WireGuardConfigError) in
                        try ValueParser.integer(value, in: WireGuardConfiguration.keepaliveRange, option: shown)
                    }
                }
            default: throw WgQuickError(line: line, .unknownKey(key: shown, section: "Peer"))
            }
            peer = pending
        }
    }

    /// The configuration read, checked complete and within the profile limits.
    mutating func finish() throws(WgQuickError) -> WireGuardConfiguration {
        try finishPeer()
        guard let interface else { throw WgQuickError(line: nil, .missingInterface) }
        guard let privateKey = interface.privateKey else {
            throw WgQuickError(line: interface.line, .missingKey(section: "Interface", key: "PrivateKey"))
        }
        guard !interface.addresses.isEmpty else {
            throw WgQuickError(line: interface.line, .missingKey(section: "Interface", key: "Address"))
        }
        let configuration = WireGuardConfiguration(
            interface: .init(
                privateKey: privateKey, addresses: interface.addresses, dnsServers: interface.dnsServers,
                searchDomains: interface.searchDomains, mtu: interface.mtu, listenPort: interface.listenPort),
            peers: peers)
        do throws(WireGuardConfigError) { try configuration.validate() } catch { throw WgQuickError(line: nil, .profileLimit(error)) }
        return configuration
    }

    private mutating func finishPeer() throws(WgQuickError) {
        guard let pending = peer else { return }
        peer = nil
        guard let publicKey = pending.publicKey else {
            throw WgQuickError(line: pending.line, .missingKey(section: "Peer", key: "PublicKey"))
        }
        peers.append(
            WireGuardConfiguration.Peer(
                publicKey: publicKey, presharedKey: pending.presharedKey, endpoint: pending.endpoint, allowedIPs: pending.allowedIPs,
                persistentKeepalive: pending.persistentKeepalive))
    }

    private static func checkCount(_ count: Int, key: String, line: Int) throws(WgQuickError) {
        guard count <= WgQuickParser.maximumListEntries else {
            throw WgQuickError(line: line, .tooManyEntries(key: key, maximum: WgQuickParser.maximumListEntries))
        }
    }

    /// `off`, or 0 written in decimal or hex, as wg(8) reads a mark.
    private static func isZeroMark(_ value: Substring) -> Bool {
        let lower = value.lowercased()
        if lower == "off" { return true }
        let digits = lower.hasPrefix("0x") ? lower.dropFirst(2) : Substring(lower)
        return !digits.isEmpty && digits.count <= 10 && digits.allSatisfy { $0 == "0" }
    }
}
