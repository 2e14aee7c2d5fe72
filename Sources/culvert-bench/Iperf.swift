// Iperf: one iperf3 TCP measurement from namespace A to an address in namespace B of a TunnelLab,
// with a server (`iperf3 -s`) started for it and stopped after it, and the CPU seconds every process
// on the path used: the iperf3 client (its shell's `times`, which counts the reaped child exactly),
// the iperf3 server (/proc/<pid>/stat just before it is stopped: it has done nothing else) and the
// given long-lived processes (the provider, the peer: /proc/<pid>/stat before and after the run).

import CulvertTesting
import Foundation

struct IperfResult {
    /// Received bits per second and bytes, as the server counted them.
    var bitsPerSecond: Double
    var bytes: Double
    var retransmits: Int
    /// CPU seconds (user + system) over the run.
    var clientCPUSeconds: Double
    var serverCPUSeconds: Double
    /// CPU seconds each watched process used during the run.
    var watchedCPUSeconds: [Double]
    /// Wall seconds of the client run.
    var elapsed: Double

    var gigabitsPerSecond: Double { bitsPerSecond / 1e9 }
}

enum Iperf {
    static let command = "/usr/bin/iperf3"
    static let shell = "/bin/sh"
    /// Runs the client, then prints the shell's children's CPU times (`times`, second line) on stderr.
    static let timingScript = #""$0" "$@"; status=$?; times >&2; exit $status"#
    /// The server may take a moment to listen: the client retries a refused connection this often, 0.1 s apart.
    static let connectAttempts = 50
    /// Beyond the test duration, how long a client run may take before it is killed.
    static let clientGraceSeconds = 20

    /// TCP from A to `address` (in B) for `seconds` (`reverse`: B sends, A receives, iperf3 -R);
    /// `watch` are pids whose CPU time is sampled around the run.
    static func measure(
        lab: TunnelLab, to address: String, seconds: Int, reverse: Bool = false, watch: [Int32] = [], log: String
    ) throws -> IperfResult {
        let server = try lab.namespaces.spawn(in: lab.namespaces.b, [command, "-s", "-B", address], output: log)
        defer { TunnelLab.stop(server, grace: 0) }
        let client = [shell, "-c", timingScript, command, "-c", address, "-t", String(seconds), "-J"] + (reverse ? ["-R"] : [])
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
            let used = zip(before, watch.map(CPUTime.seconds(of:))).map { $1 - $0 }
            let serverCPU = CPUTime.seconds(of: server.processIdentifier)
            var result = try parse(run.output)
            result.clientCPUSeconds = try childrenCPUSeconds(run.error)
            result.serverCPUSeconds = serverCPU
            result.watchedCPUSeconds = used
            result.elapsed = elapsed
            return result
        }
        throw BenchError.failed("iperf3 server on \(address) never accepted a connection")
    }

    private static func parse(_ json: String) throws -> IperfResult {
        guard let root = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let end = root["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
            let bits = received["bits_per_second"] as? Double
        else { throw BenchError.failed("iperf3 output without end.sum_received: \(json.prefix(500))") }
        let sent = end["sum_sent"] as? [String: Any]
        return IperfResult(
            bitsPerSecond: bits, bytes: (received["bytes"] as? NSNumber)?.doubleValue ?? 0, retransmits: sent?["retransmits"] as? Int ?? 0,
            clientCPUSeconds: .nan, serverCPUSeconds: .nan, watchedCPUSeconds: [], elapsed: 0)
    }

    /// The children's user + system seconds from `times` output ("0m1.230000s 0m2.340000s", second line).
    static func childrenCPUSeconds(_ text: String) throws -> Double {
        let lines = text.split(separator: "\n").filter { $0.split(separator: " ").count == 2 && $0.hasSuffix("s") }
        guard let children = lines.last else {
            throw BenchError.failed("no `times` line from the iperf3 client's shell: \(text.suffix(300))")
        }
        return children.split(separator: " ").reduce(0) { sum, field in
            // "1m2.5s" → 62.5
            let parts = field.dropLast().split(separator: "m")
            guard parts.count == 2, let minutes = Double(parts[0]), let rest = Double(parts[1]) else { return .nan }
            return sum + minutes * 60 + rest
        }
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
