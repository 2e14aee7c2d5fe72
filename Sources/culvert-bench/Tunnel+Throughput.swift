// Tunnel+Throughput: iperf3 TCP over three paths in one lab, rounds alternating them — the plain veth,
// the test provider without offloads (a bundle without `tun-offload`, a plain peer) and the test
// provider with them (a second extension of the same binary declaring `tun-offload`, the peer with
// `--tun-offload on`); both peers force 7 MiB UDP buffers, as culvertd's Protect does for the
// provider. Each tunnel run has its own session (Connect → run → Disconnect) and its own peer
// process; losses (UDP receive-buffer overflows, TUN transmit drops) are deltas over each run.

import CulvertBundle
import CulvertTesting
import Foundation

extension Tunnel {
    /// The offloading variant: the same test provider, installed under a second identifier.
    static let offloadExtension = TunnelLab.extensionIdentifier + ".offload"
    static let offloadProfile = "bench-offload"
    /// veth MTU 1,500 − 20 (outer IPv4) − 8 (UDP): the test provider adds no header of its own.
    static let defaultTunnelMTU = 1472
    static let plainPeer = TunnelLab.PeerOptions(tunOffload: false, socketBuffer: TunnelLab.matchingSocketBuffer)
    /// IFF_VNET_HDR in /sys/class/net/<ifname>/tun_flags.
    static let virtioHeaderFlag = 0x4000

    enum Path: String, CaseIterable {
        case veth = "plain veth"
        case plain = "test provider, no offloads"
        case offload = "test provider, tun-offload"
    }

    /// One iperf3 run with what was lost meanwhile (deltas over the run).
    struct PathRun {
        var iperf: IperfResult
        var udpReceiveBufferErrors: (a: Int, b: Int)
        var tunTransmitDrops: (a: Int, b: Int)
    }

    struct Throughput {
        var runs: [Path: [PathRun]] = [:]
        var mtu: [Path: Int] = [:]
    }

    func measureThroughput(_ lab: TunnelLab) throws -> Throughput {
        try lab.installTestProvider(version: "1.0.0", capabilities: [.tunOffload], identifier: Self.offloadExtension)
        try lab.saveProfile(Self.offloadProfile, options: ["mtu": String(tunnelMTU)], extensionIdentifier: Self.offloadExtension)
        var result = Throughput()
        result.mtu[.veth] = try mtu(lab, "veth-a")
        let log = lab.directory.file("iperf-server.log")
        for _ in 0..<rounds {
            for path in Path.allCases {
                let run: PathRun
                switch path {
                case .veth:
                    run = try measureRun(lab, path, to: NetworkNamespacePair.addressB, watch: [], log: log)
                case .plain, .offload:
                    let offload = path == .offload
                    let peer = offload ? TunnelLab.PeerOptions.offloading : Self.plainPeer
                    if lab.peerOptions != peer { try lab.restartPeer(peer) }
                    let profile = offload ? Self.offloadProfile : Self.profile
                    let reply = try lab.connect(profile)
                    guard let providerPID = reply["session"]?["pid"]?.intValue, let interface = reply["session"]?["interface"]?.stringValue
                    else { throw BenchError.failed("Connect replied without pid or interface: \(reply.jsonString)") }
                    let flags = try tunFlags(lab, interface)
                    guard (flags & Self.virtioHeaderFlag != 0) == offload else {
                        throw BenchError.failed("\(path.rawValue): \(interface) has tun_flags 0x\(String(flags, radix: 16))")
                    }
                    result.mtu[path] = try mtu(lab, interface)
                    let reach = try lab.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", TunnelLab.tunnelAddressB])
                    guard reach.status == 0 else {
                        throw BenchError.failed("\(path.rawValue): no ping through the tunnel: \(reach.output)\(reach.error)\(lab.peerLog)")
                    }
                    let peerPID = lab.peer?.processIdentifier ?? 0
                    run = try measureRun(lab, path, to: TunnelLab.tunnelAddressB, watch: [Int32(providerPID), peerPID], log: log)
                    try lab.disconnect(profile)
                }
                result.runs[path, default: []].append(run)
            }
        }
        return result
    }

    private func measureRun(_ lab: TunnelLab, _ path: Path, to address: String, watch: [Int32], log: String) throws -> PathRun {
        let overflowsBefore = (try udpReceiveBufferErrors(lab, lab.namespaces.a), try udpReceiveBufferErrors(lab, lab.namespaces.b))
        let dropsBefore = (
            try transmitDrops(lab, lab.namespaces.a, prefix: "cvt"), try transmitDrops(lab, lab.namespaces.b, prefix: "cvtpeer")
        )
        let iperf = try Iperf.measure(lab: lab, to: address, seconds: seconds, watch: watch, log: log)
        let overflowsAfter = (try udpReceiveBufferErrors(lab, lab.namespaces.a), try udpReceiveBufferErrors(lab, lab.namespaces.b))
        let dropsAfter = (
            try transmitDrops(lab, lab.namespaces.a, prefix: "cvt"), try transmitDrops(lab, lab.namespaces.b, prefix: "cvtpeer")
        )
        return PathRun(
            iperf: iperf, udpReceiveBufferErrors: (overflowsAfter.0 - overflowsBefore.0, overflowsAfter.1 - overflowsBefore.1),
            tunTransmitDrops: (dropsAfter.0 - dropsBefore.0, dropsAfter.1 - dropsBefore.1))
    }

    /// Udp RcvbufErrors of `namespace` since it was created (/proc/net/snmp).
    private func udpReceiveBufferErrors(_ lab: TunnelLab, _ namespace: String) throws -> Int {
        let snmp = try lab.namespaces.exec(in: namespace, ["cat", "/proc/net/snmp"]).output
        let udp = snmp.split(separator: "\n").filter { $0.hasPrefix("Udp: ") }.map { $0.split(separator: " ") }
        guard udp.count >= 2, let column = udp[0].firstIndex(of: "RcvbufErrors"), column < udp[1].count, let count = Int(udp[1][column])
        else { throw BenchError.failed("no Udp RcvbufErrors in /proc/net/snmp of \(namespace)") }
        return count
    }

    /// Transmit drops of the links in `namespace` whose name starts with `prefix` (now, since each was created).
    private func transmitDrops(_ lab: TunnelLab, _ namespace: String, prefix: String) throws -> Int {
        let text = try lab.namespaces.ip(in: namespace, ["-j", "-s", "link", "show"])
        let links = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] ?? []
        return links.filter { ($0["ifname"] as? String)?.hasPrefix(prefix) ?? false }.reduce(0) { sum, link in
            let tx = (link["stats64"] as? [String: Any])?["tx"] as? [String: Any]
            return sum + (tx?["dropped"] as? Int ?? 0)
        }
    }

    private func tunFlags(_ lab: TunnelLab, _ interface: String) throws -> Int {
        let text = try lab.inA(["cat", "/sys/class/net/\(interface)/tun_flags"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let flags = Int(text.hasPrefix("0x") ? String(text.dropFirst(2)) : text, radix: 16) else {
            throw BenchError.failed("tun_flags of \(interface): \(text)")
        }
        return flags
    }

    private func mtu(_ lab: TunnelLab, _ interface: String) throws -> Int {
        let text = try lab.namespaces.ip(in: lab.namespaces.a, ["-j", "link", "show", "dev", interface])
        let links = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]
        return links?.first?["mtu"] as? Int ?? 0
    }

    /// The 1-minute load average when the throughput was measured (/proc/loadavg), for the report.
    func loadAverage() -> String {
        // try?: without /proc/loadavg the report says so.
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    }
}
