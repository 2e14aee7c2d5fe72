// Iperf: one iperf3 TCP measurement from namespace A to an address in namespace B of a TunnelLab,
// with a one-shot server (`iperf3 -s -1`) started for it and stopped after it, and the CPU time the
// given processes (the provider, the peer) used meanwhile.

import CulvertTesting
import Foundation

struct IperfResult {
    /// Received bits per second, as the server counted them.
    var bitsPerSecond: Double
    var retransmits: Int
    /// Of the whole machine, as iperf3 reports them (100 = one core).
    var clientCPUPercent: Double
    var serverCPUPercent: Double
    /// CPU seconds each watched process used during the run, per elapsed second (1.0 = one core).
    var watchedCPU: [Double]

    var gigabitsPerSecond: Double { bitsPerSecond / 1e9 }
}

enum Iperf {
    static let command = "/usr/bin/iperf3"
    /// The server may take a moment to listen: the client retries a refused connection this often, 0.1 s apart.
    static let connectAttempts = 50
    /// Beyond the test duration, how long a client run may take before it is killed.
    static let clientGraceSeconds = 20

    /// TCP from A to `address` (in B) for `seconds`; `watch` are pids whose CPU time is sampled around the run.
    static func measure(lab: TunnelLab, to address: String, seconds: Int, watch: [Int32] = [], log: String) throws -> IperfResult {
        let server = try lab.namespaces.spawn(in: lab.namespaces.b, [command, "-s", "-1", "-B", address], output: log)
        defer {
            if server.isRunning {
                server.terminate()
                server.waitUntilExit()
            }
        }
        let client = [command, "-c", address, "-t", String(seconds), "-J"]
        for _ in 0..<connectAttempts {
            let before = watch.map(CPUTime.seconds(of:))
            let startedAt = Date()
            let run = try lab.inA(client, timeout: TimeInterval(seconds + clientGraceSeconds))
            let elapsed = Date().timeIntervalSince(startedAt)
            if run.output.contains("Connection refused") {  // the server is not listening yet (iperf3 3.12 then exits 0 with -J)
                usleep(100_000)
                continue
            }
            guard run.status == 0 else { throw BenchError.failed("iperf3 to \(address) exited \(run.status): \(run.output) \(run.error)") }
            let used = zip(before, watch.map(CPUTime.seconds(of:))).map { ($1 - $0) / elapsed }
            return try parse(run.output, watchedCPU: used)
        }
        throw BenchError.failed("iperf3 server on \(address) never accepted a connection")
    }

    private static func parse(_ json: String, watchedCPU: [Double]) throws -> IperfResult {
        guard let root = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let end = root["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
            let bits = received["bits_per_second"] as? Double
        else { throw BenchError.failed("iperf3 output without end.sum_received: \(json.prefix(500))") }
        let sent = end["sum_sent"] as? [String: Any]
        let cpu = end["cpu_utilization_percent"] as? [String: Any]
        return IperfResult(
            bitsPerSecond: bits, retransmits: sent?["retransmits"] as? Int ?? 0, clientCPUPercent: cpu?["host_total"] as? Double ?? .nan,
            serverCPUPercent: cpu?["remote_total"] as? Double ?? .nan, watchedCPU: watchedCPU)
    }
}

/// User + system CPU time of a process, from /proc/<pid>/stat.
enum CPUTime {
    static func seconds(of pid: Int32) -> Double {
        // try?: a process that is gone has used no more time; the figure then shows 0.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        // After "pid (comm)": state is field 3, utime 14, stime 15 (1-based) → indices 11 and 12 here.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
