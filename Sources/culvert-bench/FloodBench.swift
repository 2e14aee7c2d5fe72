// `culvert-bench flood`: root's Ping latency alone and while unprivileged uids flood the control
// socket (contract 15), and culvertd's RSS under each flood. The floods are `Flood` peers run
// under unnamed uids via setpriv; everything stays on this machine's Unix socket.

import ArgumentParser
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import CulvertWire
import Foundation

struct FloodBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flood",
        abstract: "Root Ping p50/p99 alone and during floods from unprivileged uids; culvertd RSS under each flood.")

    /// The uids the floods run as (no names needed: setpriv takes numbers).
    static let floodUIDs: [UInt32] = [64_201, 64_202, 64_203, 64_204]

    @Option(help: "Most Pings per measurement.")
    var pings = 5_000

    @Option(help: "Connections per flooding uid.")
    var connections = 200

    @Option(help: "Seconds each flood holds its connections.")
    var hold = 6.0

    func run() throws {
        guard Identity.effectiveUserID == 0 else { throw ValidationError("flood needs root (floods run as other uids)") }
        let directory = try TemporaryDirectory(prefix: "culvert-bench-flood", base: "/dev/shm")
        defer { directory.remove() }
        try FileSystem.setMode(directory.path, 0o755)  // the flooding uids must reach the socket
        let daemon = DaemonProcess(root: directory.path, arguments: [])
        try daemon.start()
        defer { daemon.stop() }
        let client = try daemon.connect()
        for _ in 0..<500 { _ = try client.call(ManagerMethod.ping.rawValue) }

        var rows: [String] = []
        let (idle, idleRSS) = try measure(client: client, daemon: daemon, window: hold - 2)
        rows.append(row("none (root alone)", idle, idle, idleRSS, outcomes: [:]))
        var worstRSS = 0
        for kind: FloodKind in [.idle, .partial, .huge, .trickle] {
            let size =
                kind == .huge
                ? VarlinkLimits.unprivilegedMaximumMessageSize + 16 << 10 : VarlinkLimits.unprivilegedMaximumMessageSize - 1024
            let floods = Self.floodUIDs.map { uid in
                Flood(
                    FloodPlan(
                        identity: FloodPlan.stranger(uid: uid), socketPath: daemon.socketPath, kind: kind, connections: connections,
                        hold: hold, size: size))
            }
            // Started together, so the connections of all uids are open at once.
            let started = DispatchGroup()
            let failures = FailureBox()
            for flood in floods {
                DispatchQueue.global().async(group: started) {
                    do { try flood.start() } catch { failures.add("\(error)") }
                }
            }
            started.wait()
            if let failure = failures.first { throw ValidationError(failure) }
            let (during, rss) = try measure(client: client, daemon: daemon, window: hold - 2)
            var outcomes: [String: Int] = [:]
            for flood in floods {
                for (outcome, count) in try flood.finish().outcomes { outcomes[outcome, default: 0] += count }
            }
            worstRSS = max(worstRSS, rss)
            rows.append(row("\(kind.rawValue), \(Self.floodUIDs.count) uids × \(connections)", during, idle, rss, outcomes: outcomes))
        }
        print(
            """
            ## Control socket under flood (`culvert-bench flood --pings \(pings) --connections \(connections) --hold \(hold)`)

            | flood | Pings | p50 µs | p99 µs | p99 / idle p99 | culvertd RSS peak | how the flood's connections ended |
            |---|---|---|---|---|---|---|
            \(rows.joined(separator: "\n"))

            Goals: p99 under every flood ≤ 2× idle → **\(rows.allSatisfy { !$0.contains("**over**") } ? "met" : "missed")**; \
            RSS ≤ 64 MiB under the worst flood (\(worstRSS / 1024) MiB) → **\(worstRSS <= 64 << 10 ? "met" : "missed")**.
            """)
    }

    /// Pings on root's connection until `pings` are done or `window` seconds pass; RSS sampled as it goes.
    private func measure(client: VarlinkClientConnection, daemon: DaemonProcess, window: Double) throws -> (Percentiles, Int) {
        var samples: [UInt64] = []
        samples.reserveCapacity(pings)
        var peak = daemon.residentKilobytes
        let end = WallClock.monotonicNanoseconds() + UInt64(window * 1e9)
        while samples.count < pings, WallClock.monotonicNanoseconds() < end {
            let start = WallClock.monotonicNanoseconds()
            _ = try client.call(ManagerMethod.ping.rawValue, timeoutMilliseconds: 5000)
            samples.append(WallClock.monotonicNanoseconds() - start)
            if samples.count % 100 == 0 { peak = max(peak, daemon.residentKilobytes) }
        }
        return (Percentiles(nanoseconds: samples), max(peak, daemon.residentKilobytes))
    }

    private func row(_ name: String, _ stats: Percentiles, _ idle: Percentiles, _ rss: Int, outcomes: [String: Int]) -> String {
        let ratio = stats.p99 / idle.p99
        let ended = outcomes.sorted { $0.key < $1.key }.map {
            "\($0.key.replacingOccurrences(of: "io.culvert.Varlink.", with: "")) \($0.value)"
        }
        return
            "| \(name) | \(stats.count) | \(format(stats.p50)) | \(format(stats.p99)) | \(format(ratio))\(ratio > 2 ? " **over**" : "") | "
            + "\(rss / 1024) MiB | \(ended.isEmpty ? "–" : ended.joined(separator: ", ")) |"
    }
}

/// Failures reported by the threads that start the floods.
private final class FailureBox: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var failures: [String] = []
    func add(_ failure: String) { lock.withLock { failures.append(failure) } }
    var first: String? { lock.withLock { failures.first } }
}
