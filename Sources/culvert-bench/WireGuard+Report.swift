// WireGuard+Report: the markdown `culvert-bench wireguard` prints, in the shape docs/BENCHMARKS.md uses.

import Foundation

extension WireGuardBench {
    func throughputReport(_ runs: [Run], load: (before: String, after: String), providerLog: [String]) -> String {
        func two(_ value: Double) -> String { String(format: "%.2f", value) }
        func baseline(_ reverse: Bool) -> Double? {
            runs.first { $0.path == .goPair && $0.reverse == reverse }?.iperf.gigabitsPerSecond
        }
        let rows = runs.map { run -> String in
            let gigabytes = run.iperf.bytes / 1e9
            let watched = zip(run.watched, run.iperf.watchedCPUSeconds).map { "\($0) \(two($1 / gigabytes))" }
            let iperf = [
                "iperf3 client \(two(run.iperf.clientCPUSeconds / gigabytes))", "server \(two(run.iperf.serverCPUSeconds / gigabytes))",
            ]
            let ratio = baseline(run.reverse).map { run.path == .veth ? "—" : "**\(two(run.iperf.gigabitsPerSecond / $0))×**" } ?? "?"
            let direction = run.reverse ? "B → A" : "A → B"
            return
                "| \(run.path.rawValue) | \(direction) | \(two(run.iperf.gigabitsPerSecond)) | \(ratio) | \(run.iperf.retransmits) | \((watched + iperf).joined(separator: "; ")) |"
        }
        let offload = noTunOffload ? "without `tun-offload`" : "declaring `tun-offload`"
        let goal = runs.filter { $0.path == .culvertPair }.map { run -> String in
            let ratio = baseline(run.reverse).map { run.iperf.gigabitsPerSecond / $0 } ?? .nan
            let cpu = run.iperf.watchedCPUSeconds.map { $0 / (run.iperf.bytes / 1e9) }
            let met = ratio >= 5 && run.iperf.gigabitsPerSecond >= 1.5 && (cpu.max() ?? .infinity) <= 7
            return "\(run.reverse ? "B → A" : "A → B"): \(two(run.iperf.gigabitsPerSecond)) Gbit/s, \(two(ratio))× the pair, "
                + "providers \(cpu.map(two).joined(separator: " / ")) CPU s/GB — \(met ? "goal met" : "goal not met")"
        }
        return """
            ## WireGuard (`culvert-bench wireguard --seconds \(seconds) --connects \(connects) --warmup \(warmup)\(noTunOffload ? " --no-tun-offload" : "")\(culvertPairOnly ? " --culvert-pair-only" : "")`)

            iperf3 TCP, one stream, \(seconds) s per run; A → B: A sends (client in A), B → A: `-R`. The culvert-wireguard \
            bundle \(offload). Load average before \(load.before), after \(load.after). CPU seconds (user + system) per \
            GB received, per process; the ratio is to the wireguard-go pair in the same direction, this run.
            \(providerLog.isEmpty ? "" : "\nProvider: " + providerLog.joined(separator: "; ") + "\n")
            | path | direction | Gbit/s | × wireguard-go pair | retransmits | CPU s/GB per process |
            |---|---|---|---|---|---|
            \(rows.joined(separator: "\n"))

            Goal (issue 14: culvert-wireguard ↔ culvert-wireguard ≥ 5× the wireguard-go pair, ≥ 1.5 Gbit/s, ≤ 7 CPU s/GB): \
            \(goal.isEmpty ? "not measured" : goal.joined(separator: "; ")).

            """
    }

    func latencyReport(connected: Percentiles, handshaken: Percentiles, baseline: Percentiles) -> String {
        func ms(_ microseconds: Double) -> String { String(format: "%.2f", microseconds / 1000) }
        func row(_ name: String, _ stats: Percentiles) -> String {
            "| \(name) | \(stats.count) | \(ms(stats.p50)) | \(ms(stats.p99)) | \(ms(stats.max)) |"
        }
        return """
            ### Connect (culvert-wireguard ↔ wireguard-go)

            | measurement | n | p50 ms | p99 ms | max ms |
            |---|---|---|---|---|
            \(row("Connect(wait: true) → reply, state connected", connected))
            \(row("Connect → first ping answered through the tunnel (first handshake included)", handshaken))
            \(row("one ping over the veth, started the same way (ip netns exec + ping: the cost in the row above)", baseline))

            """
    }
}
