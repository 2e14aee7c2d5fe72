// WireGuardProvider: the PacketTunnelProvider of culvert-wireguard. startTunnel reads the profile
// (WireGuardConfiguration: options + secrets), builds the WireGuardDevice, opens and protects one
// UDP socket (IPv4, or IPv6 when the peers' endpoints are; the listen port or an ephemeral one),
// applies addresses, routes (every peer's AllowedIPs), DNS and MTU through culvertd, and starts
// the DataPlane. It is HandoverCapable (WireGuardProvider+Handover.swift): a live upgrade carries
// the sessions over without a handshake.
// Keys never reach the log: the configuration types redact them and only public keys are printed.

import CulvertProvider
import CulvertSystem
import FoundationEssentials
import WireGuardConfig
import WireGuardCrypto
import WireGuardDevice

final class WireGuardProvider: PacketTunnelProvider, @unchecked Sendable {  // plane/socket change only in calls, which run one at a time
    let tunnel: Tunnel
    var plane: DataPlane?
    var socket: DatagramSocket?
    var listenPort: UInt16?
    var keepalives: [PublicKey: Int] = [:]
    /// The device clock's zero (DataPlane.now counts from it) and the TUN MTU: to restart the plane.
    var clockStart = ContinuousClock.now
    var mtu = SettingsPlan.defaultMTU
    /// The device as prepareHandover left it (the plane stopped), until resumed or superseded.
    var pausedDevice: WireGuardDevice?

    init(tunnel: Tunnel) { self.tunnel = tunnel }

    /// The profile (options + secrets) parsed, with the test-only options set apart (a release build
    /// refuses them), or the start error naming what is wrong.
    func configuration(_ options: [String: String]) throws(WireGuardStartError) -> (WireGuardConfiguration, TestOnlyOptions) {
        do {
            let split = try TestOnlyOptions.split(options, allowed: TestOnlyTimers.allowed)
            return (try WireGuardConfiguration(options: split.profile, secrets: tunnel.secrets), split.test)
        } catch {
            throw .configuration(error)
        }
    }

    /// A fresh device for `configuration`, its clock's zero now (startTunnel and importHandover alike).
    static func makeDevice(_ configuration: DeviceConfiguration, testOptions: TestOnlyOptions) -> (WireGuardDevice, ContinuousClock.Instant)
    {
        let start = ContinuousClock.now
        let unixNow = Date().timeIntervalSince1970
        if let preset = testOptions.timers { say("test-only timers in force: \(preset.rawValue)") }
        var device = WireGuardDevice(
            configuration: configuration, timers: TestOnlyTimers.timers(testOptions), unixTimeAtZero: .seconds(unixNow))
        device.handshakeLoad = .standard  // under a handshake flood: cookie replies (WireGuardDevice+Load.swift)
        return (device, start)
    }

    func startTunnel(options: [String: String]) async throws {
        let (configuration, testOptions) = try configuration(options)
        let deviceConfiguration = try ProfileMapping.device(configuration)
        let plan = ProfileMapping.settings(configuration)
        let (device, start) = Self.makeDevice(deviceConfiguration, testOptions: testOptions)

        let family: IPFamily = try ProfileMapping.outerSocketIsIPv6(configuration) ? .ipv6 : .ipv4
        let socket = try DatagramSocket.open(family)
        do {
            try socket.bind(to: IPEndpoint(address: .unspecified(family), port: configuration.interface.listenPort ?? 0))
            // Marked before the first send, so a full tunnel never routes the tunnel's own datagrams into itself.
            try await tunnel.protect(socket)
            try await tunnel.setTunnelNetworkSettings(Self.networkSettings(plan))
        } catch {
            socket.close()
            throw error
        }
        for (family, addresses, routes) in [("IPv4", plan.ipv4Addresses, plan.ipv4Routes), ("IPv6", plan.ipv6Addresses, plan.ipv6Routes)]
        where addresses.isEmpty && !routes.isEmpty {
            say("no \(family) address: the \(family) AllowedIPs (\(routes.joined(separator: ", "))) get no route")
        }
        let bound = try socket.localEndpoint().port
        self.socket = socket
        listenPort = bound
        keepalives = Self.keepalives(deviceConfiguration)
        clockStart = start
        mtu = plan.mtu
        plane = try DataPlane(device: device, start: start, flow: tunnel.packetFlow, socket: socket, mtu: plan.mtu)
        say(
            "started: interface \(StatusReport.base64(device.publicKey)) on \(tunnel.session?.interface ?? "?"), UDP port \(bound), "
                + "\(deviceConfiguration.peers.count) peer(s), MTU \(plan.mtu)")
    }

    /// Each peer's persistent keepalive in seconds (0: off), for the status answer.
    static func keepalives(_ configuration: DeviceConfiguration) -> [PublicKey: Int] {
        Dictionary(configuration.peers.map { ($0.publicKey, Int($0.persistentKeepalive?.components.seconds ?? 0)) }) { first, _ in first }
    }

    func stopTunnel(reason: TunnelStopReason) async {
        say("stopTunnel reason=\(reason.rawValue)")
        plane?.stop()
        plane = nil
        pausedDevice = nil
        socket?.close()
        socket = nil
    }

    func handleAppMessage(_ message: [UInt8]) async -> [UInt8]? {
        let text = String(decoding: message, as: UTF8.self)
        guard text == "status" else { return Array("unknown message; try \"status\"".utf8) }
        let port = listenPort
        let keepalives = keepalives
        let now = clockStart.duration(to: .now)
        guard let plane else {
            return pausedDevice.map { StatusReport.json(device: $0, listenPort: port, keepalives: keepalives, now: now) }
                ?? Array("{}".utf8)
        }
        return plane.device.withLock { StatusReport.json(device: $0, listenPort: port, keepalives: keepalives, now: now) }
    }

    static func networkSettings(_ plan: SettingsPlan) -> TunnelNetworkSettings {
        var settings = TunnelNetworkSettings(tunnelRemoteAddress: plan.remoteAddress, mtu: plan.mtu)
        if !plan.ipv4Addresses.isEmpty { settings.ipv4 = IPSettings(addresses: plan.ipv4Addresses, includedRoutes: plan.ipv4Routes) }
        if !plan.ipv6Addresses.isEmpty { settings.ipv6 = IPSettings(addresses: plan.ipv6Addresses, includedRoutes: plan.ipv6Routes) }
        if !plan.dnsServers.isEmpty || !plan.searchDomains.isEmpty {
            settings.dns = DNSSettings(servers: plan.dnsServers, searchDomains: plan.searchDomains)
        }
        return settings
    }
}

/// One line to stdout, unbuffered (culvertd keeps it as the session log). Never pass it a key.
func say(_ text: String) {
    // try?: nowhere left to report a failed write.
    try? Descriptor.standardOutput.writeAll("culvert-wireguard: \(text)\n".utf8)
}
