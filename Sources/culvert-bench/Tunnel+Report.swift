// Tunnel+Report: the markdown `culvert-bench tunnel` prints, in the shape docs/BENCHMARKS.md uses.

import Foundation

extension Tunnel {
    private func ratio(_ a: Double, _ b: Double) -> String { String(format: "%.2f", a / b) }

    func latencyReport(ping: Percentiles, connect: Percentiles, disconnect: Percentiles, probe: Percentiles) -> String {
        func ms(_ microseconds: Double) -> String { String(format: "%.2f", microseconds / 1000) }
        func row(_ name: String, _ stats: Percentiles) -> String {
            "| \(name) | \(stats.count) | \(ms(stats.p50)) | \(ms(stats.p99)) | \(ms(stats.max)) |"
        }
        return """
            ## Tunnel (`culvert-bench tunnel --cycles \(cycles) --warmup \(warmup) --pings \(pings) --probes \(probes) --seconds \(seconds) --rounds \(rounds)`)

            | measurement | n | p50 ms | p99 ms | max ms |
            |---|---|---|---|---|
            \(row("Ping round trip, same connection (baseline)", ping))
            \(row("provider start: spawn as nobody → StartTunnel reply (baseline)", probe))
            \(row("Connect(wait: true) → reply, state connected", connect))
            \(row("Disconnect → reply, state disconnected", disconnect))

            Connect p50 = **\(ratio(connect.p50, ping.p50))× Ping** p50 (\(format(ping.p50)) µs), **\(ratio(connect.p50, probe.p50))× a bare provider start** p50 \
            (p99: \(ratio(connect.p99, probe.p99))×); culvertd's share beyond the provider start: \(ms(connect.p50 - probe.p50)) ms at p50.

            """
    }

    func throughputReport(_ throughput: Throughput, load: (before: String, after: String)) -> String {
        func gigabits(_ runs: [PathRun]) -> Double {
            runs.map(\.iperf.gigabitsPerSecond).reduce(0, +) / Double(max(1, runs.count))
        }
        /// CPU seconds per GB received over all runs of a path.
        func perGB(_ runs: [PathRun], _ seconds: (PathRun) -> Double) -> String {
            let gigabytes = runs.map(\.iperf.bytes).reduce(0, +) / 1e9
            return String(format: "%.2f", runs.map(seconds).reduce(0, +) / gigabytes)
        }
        let veth = throughput.runs[.veth] ?? []
        let vethMean = gigabits(veth)
        let rows = Path.allCases.map { path -> String in
            let runs = throughput.runs[path] ?? []
            let perRound = runs.map { String(format: "%.2f", $0.iperf.gigabitsPerSecond) }.joined(separator: ", ")
            let roundRatios = zip(runs, veth).map { ratio($0.iperf.bitsPerSecond, $1.iperf.bitsPerSecond) }.joined(separator: ", ")
            let retransmits = runs.map(\.iperf.retransmits).reduce(0, +)
            let tunnel = path != .veth
            let provider = tunnel ? perGB(runs) { $0.iperf.watchedCPUSeconds.first ?? .nan } : "—"
            let peer = tunnel ? perGB(runs) { $0.iperf.watchedCPUSeconds.last ?? .nan } : "—"
            let cpu = "\(provider) / \(peer) / \(perGB(runs, \.iperf.clientCPUSeconds)) / \(perGB(runs, \.iperf.serverCPUSeconds))"
            let overflows =
                "\(runs.map { $0.udpReceiveBufferErrors.a }.reduce(0, +)) / \(runs.map { $0.udpReceiveBufferErrors.b }.reduce(0, +))"
            let drops =
                tunnel ? "\(runs.map { $0.tunTransmitDrops.a }.reduce(0, +)) / \(runs.map { $0.tunTransmitDrops.b }.reduce(0, +))" : "—"
            return
                "| \(path.rawValue) | \(throughput.mtu[path] ?? 0) | \(perRound) | \(String(format: "%.2f", gigabits(runs))) | **\(ratio(gigabits(runs), vethMean))** (\(roundRatios)) | \(retransmits) | \(cpu) | \(overflows) | \(drops) |"
        }
        return """
            ### Throughput (`culvert-bench tunnel … --seconds \(seconds) --rounds \(rounds)`)

            iperf3 TCP A → B, \(seconds) s per run, \(rounds) rounds each measuring veth → plain → offloading; \
            load average before \(load.before), after \(load.after). CPU seconds (user + system) per GB received, \
            summed over the path's runs; losses summed over its runs (deltas per run).

            | path | MTU | Gbit/s per round | mean Gbit/s | ratio to veth (per round) | retransmits | CPU s/GB provider / peer / iperf3 client / iperf3 server | UDP rcvbuf overflows A / B | TUN tx drops A / B |
            |---|---|---|---|---|---|---|---|---|
            \(rows.joined(separator: "\n"))
            """
    }
}
