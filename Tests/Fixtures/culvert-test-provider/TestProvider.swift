// TestProvider: a packet-tunnel provider carrying each IP packet in one UDP datagram, unencrypted,
// to a `culvert-test-provider peer`. Enough to prove the data path; the production provider is
// WireGuard. Options (all strings):
//   peer       outer address:port of the peer, e.g. 10.200.0.2:7000 (required)
//   listen     local address:port to bind, e.g. 0.0.0.0:7001 (default 0.0.0.0:0)
//   address    tunnel interface address, e.g. 10.77.0.1/24 (required)
//   routes     comma-separated included routes, e.g. 10.99.0.0/24 or 0.0.0.0/0
//   excluded   comma-separated excluded routes
//   mtu        interface MTU
//   dns        comma-separated name servers; search: comma-separated search domains
//   protect    "no" to skip protecting the UDP socket (to show the loop protect prevents)
//   behaviour  normal | crash-on-start | exit-on-start | hang-on-start | fail-on-start |
//              exit-after-start | try-netlink | leak-and-crash (prints its secrets' values, then
//              aborts: what a careless provider does, for the tests of what readers see)
// Handover (HandoverCapable): the relay stops and its UDP socket moves to the new version. A file
// `behaviour.txt` next to the executable (in the bundle, so per version, not per profile) selects
// how a new version misbehaves during an upgrade: crash-at-start (aborts before serving its
// channel), import-fails (ImportHandover throws), import-fails-if-asked (throws for profiles with
// option failImport=yes), import-hangs (ImportHandover never returns).
// The app message "version" answers with the bundle's manifest version. Hostile messages (issue 11):
// "print-escapes" prints terminal escape sequences to the log; "cancel-huge" cancels with a 15 MiB
// reason; "protect-many" sends one Protect call carrying 16 descriptors (the most one message can
// carry) straight on the channel, behind the SDK's back; "refused-call" tries chroot("/"), which the
// seccomp filter refuses, and answers with the errno it got.
// It prints its inherited descriptors and every step to stdout, which culvertd keeps as the session log.

import CulvertProvider
import CulvertSystem
import Dispatch
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

final class TestProvider: HandoverCapable, @unchecked Sendable {  // relay and socket change only in calls, which run one at a time
    let tunnel: Tunnel
    private var relay: PacketRelay?
    private var socket: DatagramSocket?
    /// From behaviour.txt in the bundle (see above); empty when there is none.
    let bundleBehaviour: String

    init(tunnel: Tunnel) {
        self.tunnel = tunnel
        bundleBehaviour = Self.trimmed(Self.bundleFile("bin/behaviour.txt"))
        say(
            "started as uid \(getuid()) pid \(getpid()); open descriptors: \(DescriptorTable.openDescriptors().map(String.init).joined(separator: " "))"
        )
        if bundleBehaviour == "crash-at-start" {
            say("behaviour.txt: crash-at-start; about to crash")
            abort()
        }
    }

    /// A file of the bundle this executable runs from (its store copy), or "".
    static func bundleFile(_ relative: String) -> String {
        // try?: no such file means no such setting.
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return "" }
        let bundle = URL(fileURLWithPath: executable).deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: bundle.appendingPathComponent(relative), encoding: .utf8)) ?? ""  // try?: as above
    }

    // MARK: handover

    func prepareHandover() async throws -> HandoverState {
        guard let socket, let relay else { throw TestProviderError.requested("no tunnel to hand over") }
        relay.stopAndWait()
        self.relay = nil
        say("handover prepared: relay stopped, moving the UDP socket")
        return HandoverState(data: Array("test-provider-state-1".utf8), sockets: [socket])
    }

    func resumeAfterFailedHandover() async {
        guard let socket else { return }
        do {
            relay = try PacketRelay(packets: tunnel.packetFlow, socket: socket)
            say("handover failed elsewhere: relaying again")
        } catch {
            say("cannot resume relaying: \(error)")
        }
    }

    func importHandover(_ state: HandoverState, options: [String: String]) async throws {
        say(
            "importHandover state=\(String(decoding: state.data, as: UTF8.self)) sockets=\(state.sockets.count) behaviour.txt=\(bundleBehaviour)"
        )
        switch bundleBehaviour {
        case "import-fails":
            throw TestProviderError.requested("import-fails was asked for")
        case "import-fails-if-asked" where options["failImport"] == "yes":
            throw TestProviderError.requested("this profile asks imports to fail (failImport=yes)")
        case "import-hangs":
            say("never finishing importHandover")
            while true { sleep(3600) }
        default:
            break
        }
        guard let socket = state.sockets.first else { throw TestProviderError.requested("no socket was handed over") }
        self.socket = socket
        relay = try PacketRelay(packets: tunnel.packetFlow, socket: socket)
        say("took over; relaying \(tunnel.session?.interface ?? "?")")
    }

    func startTunnel(options: [String: String]) async throws {
        let behaviour = options["behaviour"] ?? "normal"
        say("startTunnel behaviour=\(behaviour) session=\(tunnel.session?.session ?? "?") interface=\(tunnel.session?.interface ?? "?")")
        say("secrets: \(tunnel.secrets.keys.sorted().joined(separator: ","))")
        switch behaviour {
        case "crash-on-start":
            say("about to crash")
            abort()
        case "leak-and-crash":
            for (name, value) in tunnel.secrets.sorted(by: { $0.key < $1.key }) { say("secret \(name)=\(value)") }
            abort()
        case "exit-on-start":
            say("exiting with status 0 before the tunnel is up")
            exit(0)
        case "hang-on-start":
            say("never finishing startTunnel")
            while true { sleep(3600) }
        case "fail-on-start":
            throw TestProviderError.requested("fail-on-start was asked for")
        case "try-netlink":
            tryNetlink()
        default:
            break
        }
        guard let peerText = options["peer"], let peer = try? IPEndpoint(peerText) else {  // try?: reported as the error below
            throw TestProviderError.requested("option peer must be address:port")
        }
        guard let address = options["address"] else { throw TestProviderError.requested("option address is required") }
        let listen = try IPEndpoint(options["listen"] ?? (peer.address.family == .ipv4 ? "0.0.0.0:0" : "[::]:0"))
        let socket = try DatagramSocket.open(peer.address.family)
        try socket.bind(to: listen)
        // Marked before connect, so even the route connect() caches bypasses a full tunnel.
        if options["protect"] != "no" {
            try await tunnel.protect(socket)
            say("protected the UDP socket")
        }
        try socket.connect(to: peer)
        let routes = Self.list(options["routes"])
        let excluded = Self.list(options["excluded"])
        var settings = TunnelNetworkSettings(tunnelRemoteAddress: peer.address.description, mtu: options["mtu"].flatMap { Int($0) })
        if address.contains(":") {
            settings.ipv6 = IPSettings(addresses: [address], includedRoutes: routes, excludedRoutes: excluded)
        } else {
            settings.ipv4 = IPSettings(addresses: [address], includedRoutes: routes, excludedRoutes: excluded)
        }
        if let dns = options["dns"] { settings.dns = DNSSettings(servers: Self.list(dns), searchDomains: Self.list(options["search"])) }
        do {
            try await tunnel.setTunnelNetworkSettings(settings)
        } catch {
            say("settings refused: \(error)")
            throw error
        }
        say("settings applied; relaying \(tunnel.session?.interface ?? "?") <-> \(peer)")
        self.socket = socket
        relay = try PacketRelay(packets: tunnel.packetFlow, socket: socket)
        if behaviour == "exit-after-start" {
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) {
                say("exiting with status 3 after start")
                exit(3)
            }
        }
    }

    func stopTunnel(reason: TunnelStopReason) async {
        say("stopTunnel reason=\(reason.rawValue)")
        // Finish the batches in hand before the process exits: after a handover the successor
        // shares the socket and the TUN, and a packet read here but not forwarded would be lost.
        relay?.stopAndWait()
    }

    func handleAppMessage(_ message: [UInt8]) async -> [UInt8]? {
        let text = String(decoding: message, as: UTF8.self)
        say("message: \(text)")
        if text == "reassert" {
            // Recovering for a moment, as a provider does when its peer changes address.
            try? await tunnel.setReasserting(true)  // try?: the answer below reports what happened
            try? await Task.sleep(for: .milliseconds(300))  // try?: not cancelled here
            try? await tunnel.setReasserting(false)  // try?: as above
            return Array("reasserted".utf8)
        }
        if text == "cancel" {
            Task { await tunnel.cancelTunnel(error: "the test asked the provider to give up") }
            return Array("cancelling".utf8)
        }
        if text == "version" {
            let manifest = Self.bundleFile("manifest.json")
            let object = try? JSONDecoder().decode(ManifestVersion.self, from: Data(manifest.utf8))  // try?: "?" below
            return Array("version=\(object?.version ?? "?") pid=\(getpid())".utf8)
        }
        if let answer = hostile(text) { return answer }
        if text == "stats" {
            let counts = relay?.counts ?? (0, 0)
            return Array("toPeer=\(counts.0) fromPeer=\(counts.1)".utf8)
        }
        return Array("echo: \(text)".utf8)
    }

    /// What a hostile provider sends (see the header); nil for any other message.
    private func hostile(_ text: String) -> [UInt8]? {
        switch text {
        case "refused-call":
            let result = chroot("/")
            return Array("chroot=\(result) errno=\(result == 0 ? 0 : errno)".utf8)
        case "print-escapes":
            say("escapes: \u{1b}[31mred\u{1b}[0m \u{1b}]0;pwned\u{07} \u{9b}2J done")
            return Array("printed".utf8)
        case "cancel-huge":
            let reason = String(repeating: "A", count: 15 * 1024 * 1024)
            Task { await tunnel.cancelTunnel(error: reason) }
            return Array("cancelling hugely".utf8)
        case "protect-many":
            let extra = (0..<DescriptorPassing.maximumDescriptorsPerMessage).map { _ in Descriptor(rawValue: open("/dev/null", O_RDONLY)) }
            let frame = Array(#"{"method":"io.culvert.Provider.Protect","parameters":{}}"#.utf8) + [0]
            do {
                // fd 4 is the channel (LISTEN_FDS); the SDK is inside this call and writes nothing meanwhile.
                _ = try Descriptor(rawValue: 4).send(frame, passing: extra)
                say("sent Protect with \(extra.count) descriptors")
            } catch {
                say("sending Protect with many descriptors: \(error)")
            }
            extra.forEach { $0.close() }
            return Array("sent".utf8)
        default:
            return nil
        }
    }

    /// Tries what only culvertd may do, to show it is refused.
    private func tryNetlink() {
        do {
            let socket = try NetlinkRouteSocket()
            let address = try InterfaceAddress("10.250.0.1/24")
            let index = try socket.interfaceIndex(named: tunnel.session?.interface ?? "lo") ?? 1
            try socket.addAddress(address, interfaceIndex: index)
            say("netlink add address: succeeded (unexpected)")
        } catch {
            say("netlink add address: \(error)")
        }
    }

    /// Without leading and trailing whitespace and line ends.
    static func trimmed(_ text: some StringProtocol) -> String {
        String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }

    static func list(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map(Self.trimmed).filter { !$0.isEmpty }
    }
}

/// The one manifest field the `version` message reports.
struct ManifestVersion: Decodable {
    let version: String?
}

enum TestProviderError: Error, CustomStringConvertible {
    case requested(String)
    var description: String {
        switch self {
        case .requested(let text): return text
        }
    }
}

/// One line to stdout, unbuffered (culvertd reads it through a pipe).
func say(_ text: String) {
    // try?: nowhere left to report a failed write.
    try? Descriptor.standardOutput.writeAll("test-provider: \(text)\n".utf8)
}
