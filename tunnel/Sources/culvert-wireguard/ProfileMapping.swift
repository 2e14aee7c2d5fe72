// ProfileMapping: the parsed io.culvert.wireguard profile (WireGuardConfiguration) → what the
// device and culvertd take: a DeviceConfiguration (keys through WireGuardCrypto) and the network
// settings as text. Kept apart from the SDK's imports on purpose: CulvertSystem and WireGuardDevice
// both name an `IPAddress` and an `IPPrefix`, and this file only needs the WireGuard ones.

import WireGuardConfig
import WireGuardCrypto
import WireGuardDevice

/// Why a profile cannot start a tunnel. Never carries a key or any other secret value.
enum WireGuardStartError: Error, CustomStringConvertible {
    case configuration(WireGuardConfigError)
    case key(String)
    case unsupported(String)
    case system(String)

    var description: String {
        switch self {
        case .configuration(let error): return "invalid io.culvert.wireguard profile: \(error)"
        case .key(let which): return "\(which) is not a usable X25519 key"
        case .unsupported(let what): return "not supported yet: \(what)"
        case .system(let what): return what
        }
    }
}

/// The tunnel's network settings as culvertd's settings take them (text).
struct SettingsPlan: Equatable {
    /// MTU when the profile sets none: wg-quick's default for a 1500-byte underlay (1500 − 80).
    static let defaultMTU = 1420

    var ipv4Addresses: [String] = []
    var ipv6Addresses: [String] = []
    var ipv4Routes: [String] = []
    var ipv6Routes: [String] = []
    var dnsServers: [String] = []
    var searchDomains: [String] = []
    var mtu = defaultMTU
    /// The first peer endpoint's address: culvertd keeps routes from capturing it.
    var remoteAddress: String?
}

/// A UDP endpoint as raw parts, so the data plane converts without naming either module's types.
struct RawEndpoint: Equatable {
    var address: [UInt8]
    var port: UInt16
}

enum ProfileMapping {
    static func device(_ configuration: WireGuardConfiguration) throws(WireGuardStartError) -> DeviceConfiguration {
        let privateKey: PrivateKey
        do {
            privateKey = PrivateKey(clamping: try SecretKey(bytes: configuration.interface.privateKey.bytes))
        } catch {
            throw .key("private-key")
        }
        var peers: [PeerConfiguration] = []
        for (index, peer) in configuration.peers.enumerated() {
            let publicKey: PublicKey
            let presharedKey: SecretKey?
            do {
                publicKey = try PublicKey(bytes: peer.publicKey.bytes)
                presharedKey = try peer.presharedKey.map { key throws(CryptoError) in try SecretKey(bytes: key.bytes) }
            } catch {
                throw .key("peer.\(index) key")
            }
            var endpoint: Endpoint?
            if let given = peer.endpoint {
                guard let address = IPAddress(bytes: given.address.bytes) else { throw .unsupported("peer.\(index).endpoint") }
                endpoint = Endpoint(address: address, port: given.port)
            }
            let allowed = peer.allowedIPs.compactMap { cidr in
                IPAddress(bytes: cidr.address.bytes).flatMap { IPPrefix($0, cidr.prefixLength) }
            }
            peers.append(
                PeerConfiguration(
                    publicKey: publicKey, presharedKey: presharedKey, endpoint: endpoint, allowedIPs: allowed,
                    persistentKeepalive: peer.persistentKeepalive.map { .seconds($0) }))
        }
        return DeviceConfiguration(privateKey: privateKey, listenPort: configuration.interface.listenPort, peers: peers)
    }

    /// Whether the one outer UDP socket is IPv6: when the peers' endpoints are IPv6; IPv4 when
    /// they are IPv4 or none is given. Both families at once are refused (one socket, one family:
    /// a second socket is later work).
    static func outerSocketIsIPv6(_ configuration: WireGuardConfiguration) throws(WireGuardStartError) -> Bool {
        let endpoints = configuration.peers.enumerated().compactMap { index, peer in peer.endpoint.map { (index, $0.address.isIPv4) } }
        guard let first = endpoints.first else { return false }
        if let other = endpoints.first(where: { $0.1 != first.1 }) {
            throw .unsupported(
                "peer.\(first.0).endpoint is \(first.1 ? "IPv4" : "IPv6") and peer.\(other.0).endpoint \(other.1 ? "IPv4" : "IPv6"): "
                    + "one outer socket serves one family (IPv4 and IPv6 endpoints together)")
        }
        return !first.1
    }

    /// Addresses, routes (every peer's AllowedIPs, host bits cleared, each once), DNS and MTU.
    static func settings(_ configuration: WireGuardConfiguration) -> SettingsPlan {
        var plan = SettingsPlan()
        for cidr in configuration.interface.addresses {
            if cidr.address.isIPv4 { plan.ipv4Addresses.append(cidr.description) } else { plan.ipv6Addresses.append(cidr.description) }
        }
        var seen = Set<String>()
        for peer in configuration.peers {
            for cidr in peer.allowedIPs {
                guard let address = IPAddress(bytes: cidr.address.bytes), let prefix = IPPrefix(address, cidr.prefixLength),
                    let masked = WireGuardIPAddress(bytes: prefix.address.bytes)
                else { continue }
                let text = "\(masked)/\(prefix.length)"
                guard seen.insert(text).inserted else { continue }
                if masked.isIPv4 { plan.ipv4Routes.append(text) } else { plan.ipv6Routes.append(text) }
            }
        }
        plan.dnsServers = configuration.interface.dnsServers.map(\.description)
        plan.searchDomains = configuration.interface.searchDomains
        plan.mtu = configuration.interface.mtu ?? SettingsPlan.defaultMTU
        plan.remoteAddress = configuration.peers.lazy.compactMap(\.endpoint).first.map { $0.address.description }
        return plan
    }

    /// A device endpoint from a received datagram's sender (nil for a family the device does not know).
    static func endpoint(_ raw: RawEndpoint) -> Endpoint? {
        IPAddress(bytes: raw.address).map { Endpoint(address: $0, port: raw.port) }
    }

    static func raw(_ endpoint: Endpoint) -> RawEndpoint { RawEndpoint(address: endpoint.address.bytes, port: endpoint.port) }
}
