// Tunnel+Report: the markdown `culvert-bench tunnel` prints, in the shape docs/BENCHMARKS.md uses.

import Foundation

extension Tunnel {
    func report(ping: Percentiles, connect: Percentiles, disconnect: Percentiles, probe: Percentiles, throughput: Throughput) -> String {
        func ms(_ microseconds: Double) -> String { String(format: "%.2f", microseconds / 1000) }
        func ratio(_ a: Double, _ b: Double) -> String { String((a / b * 100).rounded() / 100) }
        func row(_ name: String, _ stats: Percentiles) -> String {
            "| \(name) | \(stats.count) | \(ms(stats.p50)) | \(ms(stats.p99)) | \(ms(stats.max)) |"
        }
        func mean(_ results: [IperfResult], _ value: (IperfResult) -> Double) -> Double {
            results.map(value).reduce(0, +) / Double(results.count)
        }
        let vethGbps = mean(throughput.veth, \.gigabitsPerSecond)
        let tunnelGbps = mean(throughput.tunnel, \.gigabitsPerSecond)
        let providerCPU = mean(throughput.tunnel) { $0.watchedCPU.first ?? .nan }
        let peerCPU = mean(throughput.tunnel) { $0.watchedCPU.last ?? .nan }
        let runs = zip(throughput.veth, throughput.tunnel).enumerated().map { index, pair in
            let (veth, tunnel) = pair
            return
                "| \(index + 1) | \(format(veth.gigabitsPerSecond)) (\(veth.retransmits) retr) | \(format(tunnel.gigabitsPerSecond)) (\(tunnel.retransmits) retr) | \(ratio(tunnel.bitsPerSecond, veth.bitsPerSecond)) | \(format(tunnel.clientCPUPercent)) / \(format(tunnel.serverCPUPercent)) | \(format(tunnel.watchedCPU.first ?? .nan)) / \(format(tunnel.watchedCPU.last ?? .nan)) |"
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

            iperf3 TCP, \(seconds) s per run, A → B; veth MTU \(throughput.vethMTU), tunnel MTU \(throughput.tunnelMTU):

            | round | veth Gbit/s | tunnel Gbit/s | ratio tunnel/veth | tunnel run: iperf3 client / server CPU % | provider / peer CPU (cores) |
            |---|---|---|---|---|---|
            \(runs.joined(separator: "\n"))
            | mean | \(format(vethGbps)) | \(format(tunnelGbps)) | **\(ratio(tunnelGbps, vethGbps))** | | \(format(providerCPU)) / \(format(peerCPU)) |

            Tunnel losses over all tunnel runs: UDP receive-buffer overflows A \(throughput.udpReceiveBufferErrors.a), \
            B \(throughput.udpReceiveBufferErrors.b); TUN transmit drops A \(throughput.tunTransmitDrops.a), B \(throughput.tunTransmitDrops.b).
            """
    }
}
