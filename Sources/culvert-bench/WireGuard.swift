// `culvert-bench wireguard`: iperf3 TCP, one stream each direction, over the plain veth, Debian's
// wireguard-go ↔ wireguard-go (the baseline: issue 14's goal is ≥ 5× its Gbit/s in the same run)
// and culvert-wireguard ↔ wireguard-go, with CPU seconds per GB of every process on the path; and
// Connect → connected, and Connect → first ping answered through the tunnel (the first handshake
// included), p50/p99 over N connects; then culvert-wireguard ↔ culvert-wireguard (a second lab:
// WireGuardCulvertPair, a culvertd on each side). One run, each lab in a TunnelLab's two namespaces,
// the culvert-wireguard bundle declaring `tun-offload` unless --no-tun-offload; torn down on exit,
// on error and on SIGINT/SIGTERM (a signal tears down the lab's namespaces; B's culvertd of the
// second lab is stopped only on the normal and error paths).

import ArgumentParser
import CulvertBundle
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import CulvertWire
import Foundation

struct WireGuardBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wireguard",
        abstract:
            "iperf3 TCP both ways: veth, wireguard-go pair, culvert-wireguard ↔ wireguard-go and ↔ itself; Connect → first handshake. Needs root."
    )

    static let profile = "wg"

    @Option(help: "Seconds per iperf3 run.")
    var seconds = 10

    @Option(help: "Connects measured (after --warmup unmeasured ones), each followed by a ping through the tunnel and a Disconnect.")
    var connects = 20

    @Option(help: "Unmeasured Connect/Disconnect cycles first.")
    var warmup = 2

    @Flag(help: "Install culvert-wireguard without `tun-offload` (a plain TUN, one datagram per packet).")
    var noTunOffload = false

    @Flag(help: "Only the throughput rows.")
    var throughputOnly = false

    @Flag(help: "Only culvert-wireguard ↔ culvert-wireguard (lab 2): no baseline, so no ratio; for measuring changes to the provider.")
    var culvertPairOnly = false

    enum Path: String, CaseIterable {
        case veth = "plain veth"
        case goPair = "wireguard-go ↔ wireguard-go (Debian)"
        case culvertGo = "culvert-wireguard ↔ wireguard-go"
        case culvertPair = "culvert-wireguard ↔ culvert-wireguard"
    }

    /// One iperf3 run: the path, the direction (A → B unless reversed) and the processes watched.
    struct Run {
        var path: Path
        var reverse: Bool
        var iperf: IperfResult
        var watched: [String]
    }

    func validate() throws {
        guard (1...60).contains(seconds), (1...1_000).contains(connects), (0...100).contains(warmup) else {
            throw ValidationError("seconds 1–60, connects 1–1000, warmup 0–100")
        }
    }

    func run() throws {
        guard getuid() == 0 else { throw ValidationError("culvert-bench wireguard creates network namespaces: run it as root") }
        let loadBefore = Self.loadAverage()
        let box = LabBox()
        try SignalTeardown.install { box.settled()?.tearDown() }
        var (runs, providerLog, latency) = culvertPairOnly ? ([], [], nil) : try measureWithWireguardGo(box)
        runs += try measureCulvertPair(box)
        print(throughputReport(runs, load: (loadBefore, Self.loadAverage()), providerLog: providerLog))
        if let latency { print(latencyReport(connected: latency.0, handshaken: latency.1, baseline: latency.2)) }
    }

    /// Lab 1 (WireGuardLab: culvertd + culvert-wireguard in A, wireguard-go in B): the veth, the
    /// wireguard-go pair, culvert-wireguard ↔ wireguard-go, then (unless --throughput-only) the connects.
    private func measureWithWireguardGo(_ box: LabBox) throws -> ([Run], [String], (Percentiles, Percentiles, Percentiles)?) {
        let lab: TunnelLab
        let wireguard: WireGuardLab
        do {
            lab = try TunnelLab(startPeer: false)
            do { wireguard = try WireGuardLab(lab: lab, capabilities: noTunOffload ? [] : [.tunOffload]) } catch {
                lab.tearDown()
                throw error
            }
        } catch {
            box.settle(nil)
            throw error
        }
        box.settle(lab)
        defer {
            wireguard.tearDown()
            lab.tearDown()
        }
        try Self.saveProfile(wireguard)
        let log = lab.directory.file("iperf-server.log")
        var runs: [Run] = []
        for reverse in [false, true] {
            let iperf = try Iperf.measure(lab: lab, to: NetworkNamespacePair.addressB, seconds: seconds, reverse: reverse, log: log)
            runs.append(Run(path: .veth, reverse: reverse, iperf: iperf, watched: []))
        }
        let pair = try WireGuardGoPair(lab: lab)
        do {
            try reach(lab, WireGuardGoPair.tunnelAddressB, what: "the wireguard-go pair")
            for reverse in [false, true] {
                let iperf = try Iperf.measure(
                    lab: lab, to: WireGuardGoPair.tunnelAddressB, seconds: seconds, reverse: reverse, watch: pair.pids, log: log)
                runs.append(Run(path: .goPair, reverse: reverse, iperf: iperf, watched: ["wireguard-go A", "wireguard-go B"]))
            }
            pair.tearDown()
        } catch {
            pair.tearDown()
            throw error
        }
        let reply = try lab.connect(Self.profile)
        guard let providerPID = reply["session"]?["pid"]?.intValue else { throw BenchError.failed("Connect replied \(reply.jsonString)") }
        try reach(lab, WireGuardLab.tunnelAddressB, what: "culvert-wireguard ↔ wireguard-go")
        let peerPID = wireguard.wireguardGo?.processIdentifier ?? 0
        for reverse in [false, true] {
            let iperf = try Iperf.measure(
                lab: lab, to: WireGuardLab.tunnelAddressB, seconds: seconds, reverse: reverse, watch: [Int32(providerPID), peerPID],
                log: log)
            runs.append(Run(path: .culvertGo, reverse: reverse, iperf: iperf, watched: ["culvert-wireguard A", "wireguard-go B"]))
        }
        let providerLog = try lab.sessionLog(Self.profile).filter { $0.contains("data plane") }
        try lab.disconnect(Self.profile)
        guard !throughputOnly else { return (runs, providerLog, nil) }
        let (connected, handshaken, baseline) = try measureConnects(lab)
        let latency = (
            Percentiles(nanoseconds: connected), Percentiles(nanoseconds: handshaken), Percentiles(nanoseconds: baseline)
        )
        return (runs, providerLog, latency)
    }

    /// Lab 2 (WireGuardCulvertPair: a culvertd and culvert-wireguard on each side): culvert ↔ culvert.
    private func measureCulvertPair(_ box: LabBox) throws -> [Run] {
        let lab = try TunnelLab(startPeer: false)
        box.settle(lab)
        defer { lab.tearDown() }
        let pair = try WireGuardCulvertPair(lab: lab, capabilities: noTunOffload ? [] : [.tunOffload])
        defer { pair.tearDown() }
        var pids: [Int32] = []
        for side in [WireGuardCulvertPair.Side.b, .a] {
            let reply = try pair.connect(side)
            guard let pid = reply["session"]?["pid"]?.intValue else {
                throw BenchError.failed("Connect \(side) replied \(reply.jsonString)")
            }
            pids.insert(Int32(pid), at: 0)
        }
        try reach(lab, WireGuardCulvertPair.tunnelAddressB, what: "culvert-wireguard ↔ culvert-wireguard")
        // On stderr, so a profiler can attach to the providers while iperf3 runs.
        FileHandle.standardError.write(Data("culvert pair: provider A pid \(pids[0]), provider B pid \(pids[1])\n".utf8))
        let log = lab.directory.file("iperf-server.log")
        var runs: [Run] = []
        for reverse in [false, true] {
            let iperf = try Iperf.measure(
                lab: lab, to: WireGuardCulvertPair.tunnelAddressB, seconds: seconds, reverse: reverse, watch: pids, log: log)
            runs.append(Run(path: .culvertPair, reverse: reverse, iperf: iperf, watched: ["culvert-wireguard A", "culvert-wireguard B"]))
        }
        return runs
    }

    /// The 1-minute, 5-minute and 15-minute load averages (/proc/loadavg), for the report.
    static func loadAverage() -> String {
        // try?: without /proc/loadavg the report says so.
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    }

    /// The profile of A's side, as `culvertctl profile import` would save wgQuickFileA.
    static func saveProfile(_ wireguard: WireGuardLab, name: String = profile) throws {
        let options = [
            "address": "\(WireGuardLab.tunnelAddressA)/24", "listen-port": String(WireGuardLab.portA),
            "peer.0.public-key": wireguard.publicKeyB, "peer.0.endpoint": "\(NetworkNamespacePair.addressB):\(WireGuardLab.portB)",
            "peer.0.allowed-ips": "\(WireGuardLab.tunnelAddressB)/32",
        ]
        let secrets = ["private-key": wireguard.privateKeyA, "peer.0.preshared-key": wireguard.presharedKey]
        _ = try wireguard.lab.control.call(
            ManagerMethod.saveProfile.rawValue,
            [
                "profile": [
                    "name": .string(name), "extension": .string(WireGuardLab.extensionIdentifier),
                    "options": .object(options.mapValues { .string($0) }), "alwaysOn": .bool(false),
                    "secrets": .object(secrets.mapValues { .string($0) }),
                ]
            ], timeoutMilliseconds: TunnelLab.sessionCallMilliseconds)
    }

    /// Three pings through a path (the first one handshakes), or the reason it does not work.
    private func reach(_ lab: TunnelLab, _ address: String, what: String) throws {
        let result = try lab.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", address])
        guard result.status == 0 else { throw BenchError.failed("\(what): no ping to \(address): \(result.output)\(result.error)") }
    }

    /// Per cycle: Connect(wait) → connected reply; then one ping at a time (-W 1) until one through
    /// the tunnel is answered (the first handshake included); then Disconnect. The baseline is one
    /// ping over the veth started the same way (`ip netns exec` + ping), the cost every sample carries.
    private func measureConnects(_ lab: TunnelLab) throws -> (connected: [UInt64], handshaken: [UInt64], baseline: [UInt64]) {
        var connected: [UInt64] = []
        var handshaken: [UInt64] = []
        var baseline: [UInt64] = []
        let attempts = 10
        for cycle in 0..<(warmup + connects) {
            let start = WallClock.monotonicNanoseconds()
            let reply = try lab.connect(Self.profile)
            let up = WallClock.monotonicNanoseconds()
            guard reply["session"]?["state"]?.stringValue == "connected" else {
                throw BenchError.failed("cycle \(cycle): Connect replied \(reply.jsonString)")
            }
            var answered = false
            for _ in 0..<attempts where !answered {
                answered = try lab.inA(["ping", "-c", "1", "-W", "1", WireGuardLab.tunnelAddressB]).status == 0
            }
            let through = WallClock.monotonicNanoseconds()
            guard answered else { throw BenchError.failed("cycle \(cycle): no ping answered through the tunnel in \(attempts) tries") }
            try lab.disconnect(Self.profile)
            let veth = WallClock.monotonicNanoseconds()
            _ = try lab.inA(["ping", "-c", "1", "-W", "1", NetworkNamespacePair.addressB])
            let vethDone = WallClock.monotonicNanoseconds()
            if cycle >= warmup {
                connected.append(up - start)
                handshaken.append(through - start)
                baseline.append(vethDone - veth)
            }
        }
        return (connected, handshaken, baseline)
    }
}
