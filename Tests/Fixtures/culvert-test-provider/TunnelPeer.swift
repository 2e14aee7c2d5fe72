// TunnelPeer: the far end of the test provider's tunnel, run standalone as root in its own network
// namespace: a TUN configured directly over netlink, relayed to UDP like the provider does.
//
//   culvert-test-provider peer --listen 10.200.0.2:7000 --remote 10.200.0.1:7001 \
//       --address 10.77.0.2/24 [--route 10.98.0.0/24 …] [--seconds 120] [--tun-offload on] [--socket-buffer 7340032]
//
// With `--tun-offload on` the peer's TUN is created with IFF_VNET_HDR (as culvertd does for a bundle
// that declares `tun-offload`) and relayed through the SDK's offload engine and UDP GSO/GRO.
// `--socket-buffer BYTES` forces the UDP socket's buffers (SO_RCVBUFFORCE/SO_SNDBUFFORCE, as
// culvertd's Protect does for the provider's socket), so both ends of a benchmark match.

import CulvertSystem
import Dispatch
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

enum TunnelPeer {
    /// Longest a peer runs unless told otherwise: every test loop is bounded in time.
    static let defaultLifetimeSeconds = 300

    static func main() -> Never {
        var arguments = Array(CommandLine.arguments.dropFirst(2))
        var options: [String: [String]] = [:]
        while arguments.count >= 2, arguments[0].hasPrefix("--") {
            options[String(arguments[0].dropFirst(2)), default: []].append(arguments[1])
            arguments.removeFirst(2)
        }
        guard arguments.isEmpty, let listenText = options["listen"]?.first, let remoteText = options["remote"]?.first,
            let addressText = options["address"]?.first
        else {
            fail(
                "usage: culvert-test-provider peer --listen ADDR:PORT --remote ADDR:PORT --address CIDR [--route PREFIX]… [--seconds N] [--tun-offload on] [--socket-buffer BYTES]"
            )
        }
        do {
            let listen = try IPEndpoint(listenText)
            let remote = try IPEndpoint(remoteText)
            let address = try InterfaceAddress(addressText)
            let routes = try (options["route"] ?? []).map { text throws(IPPrefixError) in try IPPrefix(text) }
            let offload = options["tun-offload"]?.first == "on"
            let tun = try TunDevice.create(name: "cvtpeer%d", options: offload ? .virtioNetHeader : [])
            if offload { try tun.descriptor.setVirtioHeaderSize(VirtioNetHeader.size) }
            let netlink = try NetlinkRouteSocket()
            var steps: [NetworkStep] = [
                .addAddress(address, interfaceIndex: tun.interfaceIndex), .setLinkUp(true, interfaceIndex: tun.interfaceIndex),
            ]
            steps += routes.map { .addRoute(NetworkRoute(destination: $0, interfaceIndex: tun.interfaceIndex)) }
            _ = try NetworkTransaction(steps: steps).apply(on: netlink)
            let socket = try DatagramSocket.open(listen.address.family)
            try socket.bind(to: listen)
            try socket.connect(to: remote)
            if let text = options["socket-buffer"]?.first {
                guard let bytes = Int(text), bytes > 0 else { fail("peer: --socket-buffer takes a byte count") }
                try socket.descriptor.forceBufferSizes(bytes)
            }
            _ = try PacketRelay(packets: TunPackets(descriptor: tun.descriptor), socket: socket)
            say("peer: \(tun.name) \(address) relaying to \(remote) from \(listen)\(offload ? " with offloads" : "")")
            let seconds = options["seconds"]?.first.flatMap { Int($0) } ?? defaultLifetimeSeconds
            DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(seconds)) {
                say("peer: lifetime of \(seconds) s reached")
                exit(0)
            }
            signal(SIGTERM) { _ in _exit(0) }
            dispatchMain()
        } catch {
            fail("peer: \(error)")
        }
    }

    static func fail(_ message: String) -> Never {
        // try?: nowhere left to report a failed write.
        try? Descriptor.standardError.writeAll((message + "\n").utf8)
        exit(64)
    }
}
