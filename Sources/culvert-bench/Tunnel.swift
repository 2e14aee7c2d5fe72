// `culvert-bench tunnel`: Connect → connected latency against two baselines (a Ping on the same
// connection; a bare provider start), and TCP throughput through the test provider's tunnel — plain,
// and with TUN/UDP offloads (issue 13) — against the plain veth it runs over (Tunnel+Throughput). Everything happens in two network namespaces of a TunnelLab, which
// is torn down on exit, on error and on SIGINT/SIGTERM.

import ArgumentParser
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import CulvertWire
import Foundation

struct Tunnel: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Connect latency vs Ping and a bare provider start; iperf3 TCP through the tunnel (plain and offloading) vs the plain veth. Needs root."
    )

    static let profile = "bench"

    @Option(help: "Connect/Disconnect cycles measured (after --warmup unmeasured ones).")
    var cycles = 50

    @Option(help: "Unmeasured Connect/Disconnect cycles first.")
    var warmup = 3

    @Option(help: "Ping round trips (baseline).")
    var pings = 2_000

    @Option(help: "Bare provider starts (baseline).")
    var probes = 20

    @Option(help: "Seconds per iperf3 run.")
    var seconds = 5

    @Option(help: "iperf3 runs per path; each round measures the veth, the plain provider and the offloading one in turn.")
    var rounds = 3

    @Option(
        help:
            "The tunnel's MTU (the profile's mtu option): 1472 fills the 1,500-byte veth exactly with the outer IPv4/UDP header, so no outer datagram is fragmented."
    )
    var tunnelMTU = Tunnel.defaultTunnelMTU

    @Flag(help: "Only the throughput rows (no Ping, Connect/Disconnect or provider-start latency).")
    var throughputOnly = false

    func validate() throws {
        guard (1...10_000).contains(cycles), (0...100).contains(warmup), (1...1_000_000).contains(pings), (1...1_000).contains(probes)
        else { throw ValidationError("cycles 1–10000, warmup 0–100, pings 1–1000000, probes 1–1000") }
        guard (1...60).contains(seconds), (1...10).contains(rounds), (576...9000).contains(tunnelMTU) else {
            throw ValidationError("seconds 1–60, rounds 1–10, tunnel-mtu 576–9000")
        }
    }

    func run() throws {
        guard getuid() == 0 else { throw ValidationError("culvert-bench tunnel creates network namespaces: run it as root") }
        // Installed before the lab exists; a signal during its setup waits for it (a failing setup cleans up itself).
        let loadBefore = loadAverage()
        let box = LabBox()
        try SignalTeardown.install { box.settled()?.tearDown() }
        let lab: TunnelLab
        do { lab = try TunnelLab(peerOptions: Self.plainPeer) } catch {
            box.settle(nil)
            throw error
        }
        box.settle(lab)
        defer { lab.tearDown() }
        try lab.saveProfile(Self.profile, options: ["mtu": String(tunnelMTU)])

        if !throughputOnly {
            let ping = try measurePing(lab)
            let (connect, disconnect) = try measureCycles(lab)
            let probe = try measureProviderStart(lab)
            print(
                latencyReport(
                    ping: Percentiles(nanoseconds: ping), connect: Percentiles(nanoseconds: connect),
                    disconnect: Percentiles(nanoseconds: disconnect), probe: Percentiles(nanoseconds: probe)))
        }
        print(throughputReport(try measureThroughput(lab), load: (loadBefore, loadAverage())))
    }

    // MARK: latency

    private func measurePing(_ lab: TunnelLab) throws -> [UInt64] {
        for _ in 0..<min(pings, 200) { _ = try lab.control.call(ManagerMethod.ping.rawValue) }
        return try (0..<pings).map { _ in
            let start = WallClock.monotonicNanoseconds()
            _ = try lab.control.call(ManagerMethod.ping.rawValue)
            return WallClock.monotonicNanoseconds() - start
        }
    }

    /// Connect(wait: true) from sending the call to the reply (which must say connected), then Disconnect likewise.
    private func measureCycles(_ lab: TunnelLab) throws -> (connect: [UInt64], disconnect: [UInt64]) {
        var connect: [UInt64] = []
        var disconnect: [UInt64] = []
        for cycle in 0..<(warmup + cycles) {
            let up = WallClock.monotonicNanoseconds()
            let reply = try lab.connect(Self.profile)
            let connected = WallClock.monotonicNanoseconds()
            guard reply["session"]?["state"]?.stringValue == "connected" else {
                throw BenchError.failed("cycle \(cycle): Connect replied \(reply.jsonString)")
            }
            let down = try lab.disconnect(Self.profile)
            let disconnected = WallClock.monotonicNanoseconds()
            guard down["session"]?["state"]?.stringValue == "disconnected" else {
                throw BenchError.failed("cycle \(cycle): Disconnect replied \(down.jsonString)")
            }
            if cycle >= warmup {
                connect.append(connected - up)
                disconnect.append(disconnected - connected)
            }
        }
        return (connect, disconnect)
    }

    /// The installed copy culvertd spawns, as `nobody`, outside any namespace (it touches no network).
    private func measureProviderStart(_ lab: TunnelLab) throws -> [UInt64] {
        let list = try lab.control.call(ManagerMethod.listExtensions.rawValue)
        guard case .array(let extensions)? = list["extensions"],
            let store = extensions.first(where: { $0["identifier"]?.stringValue == TunnelLab.extensionIdentifier })?["storePath"]?
                .stringValue
        else { throw BenchError.failed("the test provider is not installed: \(list.jsonString)") }
        let probe = try ProviderStartProbe(executable: store + "/bin/provider", user: "nobody")
        for _ in 0..<2 { _ = try probe.measureOnce() }
        return try (0..<probes).map { _ in try probe.measureOnce() }
    }
}

/// The lab, for the signal thread: it waits while the lab is being set up.
final class LabBox: @unchecked Sendable {  // every access holds `condition`
    /// Longest the signal thread waits for the lab's setup (which has its own deadlines below this).
    static let setupWait: TimeInterval = 60
    private let condition = NSCondition()
    private var done = false
    private var lab: TunnelLab?

    func settle(_ lab: TunnelLab?) {
        condition.withLock {
            self.lab = lab
            done = true
            condition.broadcast()
        }
    }

    func settled() -> TunnelLab? {
        condition.withLock {
            let deadline = Date().addingTimeInterval(Self.setupWait)
            while !done && condition.wait(until: deadline) {}
            return lab
        }
    }
}
