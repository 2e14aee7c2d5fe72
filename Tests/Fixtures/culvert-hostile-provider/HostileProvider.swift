// HostileProvider: a provider that brings its own tunnel up (an address and nothing else, so it
// needs no peer) and then, off the call path, attacks according to its profile's options:
//   attack      probe | forkbomb | memory | linger | symlinkswap | routes | cancelhuge | fds | escapes
//   address     its own tunnel address (default 10.78.0.1/24)
//   victimPid   the victim provider's pid (else found by scanning /proc for another "provider")
//   victimRendezvous  the victim's rendezvous socket path (probe; the sessions directory is scanned too)
//   victimDirectory   root-owned directory the symlink swap points culvertd at (symlinkswap)
//   overlapRoute, overlapAddress, underlayRoute, reservedRoute   what `routes` asks for
// Each mode is its own session, since some end it. See Report.swift for the output.

import CulvertProvider
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// @unchecked: `options` is written once, in startTunnel, before the attack task that reads it starts.
final class HostileProvider: PacketTunnelProvider, @unchecked Sendable {
    static let defaultAddress = "10.78.0.1/24"
    let tunnel: Tunnel
    private(set) var options: [String: String] = [:]

    init(tunnel: Tunnel) {
        self.tunnel = tunnel
        Report.note("hostile provider pid \(getpid()) uid \(getuid())")
    }

    var ownSettings: TunnelNetworkSettings {
        TunnelNetworkSettings(ipv4: IPSettings(addresses: [options["address"] ?? Self.defaultAddress]))
    }

    func startTunnel(options: [String: String]) async throws {
        self.options = options
        try await tunnel.setTunnelNetworkSettings(ownSettings)
        let mode = options["attack"] ?? "probe"
        Report.note("tunnel up; attack mode \(mode)")
        // After StartTunnel's reply: the session is connected while the attack runs.
        Task.detached { [self] in
            try? await Task.sleep(for: .milliseconds(200))  // try?: never cancelled
            await run(mode)
        }
    }

    func stopTunnel(reason: TunnelStopReason) async {
        Report.note("stopTunnel reason=\(reason.rawValue)")
    }

    private func run(_ mode: String) async {
        switch mode {
        case "probe": Probes(options: options).run()
        case "forkbomb": Abuse.forkBomb()
        case "memory": Abuse.memory()
        case "linger": Abuse.linger()
        case "symlinkswap": Abuse.symlinkSwap(victimDirectory: options["victimDirectory"] ?? "")
        case "routes": await ChannelAbuse(tunnel: tunnel, options: options, ownSettings: ownSettings).routes()
        case "cancelhuge":
            await ChannelAbuse(tunnel: tunnel, options: options, ownSettings: ownSettings).cancelHuge()
            return  // reported ATTACKS DONE before cancelling
        case "fds": ChannelAbuse(tunnel: tunnel, options: options, ownSettings: ownSettings).excessDescriptors()
        case "escapes":
            await ChannelAbuse(tunnel: tunnel, options: options, ownSettings: ownSettings).escapes()
            return  // as above
        default:
            Report.note("unknown attack mode \(mode)")
            return
        }
        Report.done()
    }
}
