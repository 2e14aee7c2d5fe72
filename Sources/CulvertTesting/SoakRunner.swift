// SoakRunner: the upgrade soak (issue 5) shared by `make test` (reduced) and `culvert-bench soak`
// (full). One tunnel carries a ping stream and an iperf3 TCP stream while CulvertClient watchers
// and one watcher on the reference Python varlink implementation follow the status channel; then
// extension upgrades (v1 ⇄ v2, handover-capable, downgrade allowed), daemon re-execs and
// kill -9 + restarts run in a seeded random order. The report counts, per kind of operation, what
// the contracts promise never happens.

import CulvertBundle
import CulvertClient
import CulvertCore
import CulvertVarlink
import CulvertWire
import Foundation

public struct SoakPlan: Sendable {
    public var upgrades: Int
    public var reexecs: Int
    public var crashes: Int
    /// Interval between pings in seconds (0.0002 = 5,000 a second; below 0.002 needs root).
    public var pingInterval: Double
    /// CulvertClient watchers (a reference-implementation watcher is added when its script is given).
    public var watchers: Int
    /// Pause after each operation.
    public var settle: Duration
    public var seed: UInt64
    /// `Tests/Fixtures/reference-watcher/watch.py` and the Python that has PyPI varlink, if a
    /// reference watcher should run.
    public var referenceWatcher: (python: String, script: String)?
    public var iperf: Bool
    /// Every version of the provider declares `tun-offload` (issue 13): the lab's peer should then
    /// run with `TunnelLab.PeerOptions.offloading`. Upgrades stay handovers (the framing never changes).
    public var tunOffload: Bool

    public init(
        upgrades: Int, reexecs: Int, crashes: Int, pingInterval: Double, watchers: Int, settle: Duration, seed: UInt64,
        referenceWatcher: (python: String, script: String)?, iperf: Bool, tunOffload: Bool = false
    ) {
        self.upgrades = upgrades
        self.reexecs = reexecs
        self.crashes = crashes
        self.pingInterval = pingInterval
        self.watchers = watchers
        self.settle = settle
        self.seed = seed
        self.referenceWatcher = referenceWatcher
        self.iperf = iperf
        self.tunOffload = tunOffload
    }
}

public struct SoakReport: Sendable, CustomStringConvertible {
    public var operations: [String: Int] = [:]
    public var failedOperations: [String] = []
    /// Per watcher.
    public var invalidations: [String] = []
    public var gaps: [String] = []
    public var interruptions: [Int] = []
    public var referenceSummary: [String: String] = [:]
    public var pingsSent = 0
    public var pingsReceived = 0
    /// Longest time between two consecutive ping replies, in seconds.
    public var longestPingGap = 0.0
    public var iperfOK = true
    public var iperfGigabits = 0.0
    public var iperfError: String?
    public var readoptionSeconds: [Double] = []
    public var providerPIDs = Set<Int64>()
    public var sessionState = ""
    public var elapsedSeconds = 0.0

    public var lostPings: Int { max(0, pingsSent - pingsReceived) }

    public var description: String {
        let readoption = readoptionSeconds.max().map { String(format: "%.3f", $0) } ?? "-"
        return """
            operations: \(operations.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) \
            (\(String(format: "%.1f", elapsedSeconds)) s); failed: \(failedOperations.isEmpty ? "none" : failedOperations.joined(separator: "; "))
            watchers: invalidations \(invalidations.count), gaps/duplicates \(gaps.count), interruptions \(interruptions)
            reference watcher: \(referenceSummary.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            pings: \(pingsSent) sent, \(pingsReceived) received, lost \(lostPings), longest gap \(String(format: "%.3f", longestPingGap)) s
            iperf3: \(iperfOK ? "no reset" : "FAILED: \(iperfError ?? "?")")\(iperfGigabits > 0 ? String(format: ", %.2f Gbit/s", iperfGigabits) : "")
            re-adoption (daemon start incl.): max \(readoption) s over \(readoptionSeconds.count) crashes
            providers: \(providerPIDs.count) pids over the run; session finally \(sessionState)
            """
    }
}

/// Collects one watcher's stream and checks the contract as it goes.
private actor WatchRecorder {
    var epoch: String?
    var lastSeq: Int64?
    var gaps: [String] = []
    var interruptions = 0
    var invalidations: [String] = []

    func record(_ update: WatchUpdate) {
        switch update {
        case .event(let event):
            if event.kind == .snapshot {
                epoch = event.epoch
                lastSeq = event.seq
                return
            }
            if event.epoch == epoch, let last = lastSeq, event.seq != last + 1 {
                gaps.append("\(event.epoch.prefix(8)): \(last) → \(event.seq) (\(event.kind))")
            }
            epoch = event.epoch
            lastSeq = event.seq
        case .interrupted: interruptions += 1
        case .resumed: break
        case .invalidated(let cause, _): invalidations.append("\(cause)")
        }
    }

    var result: (gaps: [String], interruptions: Int, invalidations: [String]) { (gaps, interruptions, invalidations) }
}

public enum SoakRunner {
    /// The version an offloading soak connects on (the upgrades then alternate 2.0.0 and 1.0.0).
    static let offloadStartVersion = "1.5.0"

    /// Runs `plan` on `lab` for `profile` (already saved; connected here). Bounded: every
    /// operation has its own deadline, the ping has a count, iperf3 a duration.
    public static func run(_ plan: SoakPlan, lab: TunnelLab, profile: String) async throws -> SoakReport {
        var report = SoakReport()
        let started = Date()
        var generator = SeededGenerator(seed: plan.seed)
        var operations =
            Array(repeating: "upgrade", count: plan.upgrades) + Array(repeating: "reexec", count: plan.reexecs)
            + Array(repeating: "crash", count: plan.crashes)
        operations.shuffle(using: &generator)
        let capabilities: [BundleCapability] = plan.tunOffload ? [.tunOffload, .handover] : [.handover]
        if plan.tunOffload {
            // The lab installed a plain 1.0.0; the session starts on an offloading version between 1.0.0 and 2.0.0.
            try lab.installTestProvider(version: offloadStartVersion, capabilities: capabilities)
        }
        if let pid = try lab.connect(profile)["session"]?["pid"]?.intValue { report.providerPIDs.insert(pid) }

        // Watchers.
        let policy = WatchPolicy(initialBackoff: .milliseconds(20), maximumBackoff: .milliseconds(200))
        let recorders = (0..<plan.watchers).map { _ in WatchRecorder() }
        var streams: [WatchStream] = []
        var tasks: [Task<Void, Never>] = []
        for recorder in recorders {
            let stream = CulvertClient(socketPath: lab.daemon.socketPath).watch(policy: policy)
            streams.append(stream)
            tasks.append(Task { for await update in stream { await recorder.record(update) } })
        }
        defer {
            streams.forEach { $0.cancel() }
            tasks.forEach { $0.cancel() }
        }
        var reference: Process?
        let referenceSummaryPath = lab.directory.path + "/soak-reference.json"
        if let (python, script) = plan.referenceWatcher {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [script, "--socket", lab.daemon.socketPath, "--summary", referenceSummaryPath, "--seconds", "3600"]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            reference = process
        }
        defer { if let reference, reference.isRunning { reference.interrupt() } }
        try await Task.sleep(for: .milliseconds(300))

        // Traffic: pings (timestamped replies, for the longest gap) and an iperf3 stream.
        let estimatedSeconds = Double(operations.count) * (Double(plan.settle.components.seconds) + 0.4) + 5
        let pingCount = Int(estimatedSeconds / plan.pingInterval)
        let pingLog = lab.directory.path + "/soak-ping.log"
        let ping = try lab.namespaces.spawn(
            in: lab.namespaces.a,
            ["ping", "-D", "-i", String(plan.pingInterval), "-c", String(pingCount), "-W", "1", TunnelLab.behindPeer], output: pingLog)
        defer { if ping.isRunning { ping.terminate() } }
        var iperfServer: Process?
        var iperfClient: Process?
        let iperfLog = lab.directory.path + "/soak-iperf.json"
        if plan.iperf {
            iperfServer = try lab.namespaces.spawn(
                in: lab.namespaces.b, ["iperf3", "-s", "-1", "--forceflush", "-B", TunnelLab.behindPeer],
                output: lab.directory.path + "/soak-iperf-server.log")
            try await Task.sleep(for: .milliseconds(500))
            iperfClient = try lab.namespaces.spawn(
                in: lab.namespaces.a, ["iperf3", "-c", TunnelLab.behindPeer, "-t", String(Int(estimatedSeconds) - 2), "-J"],
                output: iperfLog)
        }
        defer {
            if let iperfServer, iperfServer.isRunning { iperfServer.terminate() }
            if let iperfClient, iperfClient.isRunning { iperfClient.terminate() }
        }
        try await Task.sleep(for: .milliseconds(500))

        // The operations.
        var upgradeToV2 = true
        for operation in operations {
            report.operations[operation, default: 0] += 1
            do {
                switch operation {
                case "upgrade":
                    let control = try lab.daemon.connect()
                    _ = try lab.installTestProvider(
                        version: upgradeToV2 ? "2.0.0" : "1.0.0", capabilities: capabilities, allowDowngrade: true, connection: control)
                    upgradeToV2.toggle()
                case "reexec":
                    let control = try lab.daemon.connect()
                    _ = try control.call(ManagerMethod.reexec.rawValue, [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
                default:
                    lab.daemon.crash()
                    let clock = ContinuousClock()
                    let begin = clock.now
                    try lab.daemon.start()
                    let elapsed = clock.now - begin
                    report.readoptionSeconds.append(
                        Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                }
            } catch {
                report.failedOperations.append("\(operation): \(error)")
            }
            if let pid = try? lab.daemon.connect().call(
                ManagerMethod.getStatus.rawValue, [:], timeoutMilliseconds: TunnelLab.callMilliseconds),  // try?: counted as missing below
                case .array(let sessions)? = pid["status"]?["sessions"],
                let session = sessions.first(where: { $0["profile"]?.stringValue == profile }), let number = session["pid"]?.intValue
            {
                report.providerPIDs.insert(number)
            }
            try await Task.sleep(for: plan.settle)
        }

        // Let the traffic finish (bounded), then collect.
        let deadline = Date().addingTimeInterval(estimatedSeconds + 30)
        while ping.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        if ping.isRunning { ping.terminate() }
        let pingText = (try? String(contentsOfFile: pingLog, encoding: .utf8)) ?? ""  // try?: an empty log reports 0 received
        (report.pingsSent, report.pingsReceived, report.longestPingGap) = parsePing(pingText, expected: pingCount)
        if let iperfClient {
            while iperfClient.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
            let text = (try? String(contentsOfFile: iperfLog, encoding: .utf8)) ?? ""  // try?: reported as a failure below
            let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]  // try?: likewise
            if let error = json?["error"] as? String {
                report.iperfOK = false
                report.iperfError = error
            } else if let end = json?["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any] {
                report.iperfGigabits = ((received["bits_per_second"] as? Double) ?? 0) / 1e9
            } else {
                report.iperfOK = false
                report.iperfError = "no result: \(text.suffix(300))"
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        for recorder in recorders {
            let result = await recorder.result
            report.gaps += result.gaps
            report.invalidations += result.invalidations
            report.interruptions.append(result.interruptions)
        }
        if let reference {
            reference.terminate()
            let stop = Date().addingTimeInterval(10)
            while reference.isRunning && Date() < stop { try await Task.sleep(for: .milliseconds(50)) }
            if let data = FileManager.default.contents(atPath: referenceSummaryPath),
                let summary = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]  // try?: reported as missing
            {
                for (key, value) in summary { report.referenceSummary[key] = "\(value)" }
            } else {
                report.referenceSummary["missing"] = "no summary written"
            }
        }
        let status = try lab.daemon.connect().call(ManagerMethod.getStatus.rawValue, [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        if case .array(let sessions)? = status["status"]?["sessions"],
            let session = sessions.first(where: { $0["profile"]?.stringValue == profile })
        {
            report.sessionState = "\(session["state"]?.stringValue ?? "?") (\(session["extensionVersion"]?.stringValue ?? "?"))"
        }
        report.elapsedSeconds = Date().timeIntervalSince(started)
        return report
    }

    /// Sent, received and the longest gap between replies, from `ping -D` output.
    static func parsePing(_ text: String, expected: Int) -> (Int, Int, Double) {
        var sent = expected
        var received = 0
        var previous: Double?
        var longest = 0.0
        for line in text.split(separator: "\n") {
            if line.contains("packets transmitted") {
                let numbers = line.split(separator: " ").compactMap { Int($0) }
                if numbers.count >= 2 { (sent, received) = (numbers[0], numbers[1]) }
            } else if line.hasPrefix("["), line.contains("bytes from"), let close = line.firstIndex(of: "]"),
                let stamp = Double(line[line.index(after: line.startIndex)..<close])
            {
                if let previous { longest = max(longest, stamp - previous) }
                previous = stamp
            }
        }
        return (sent, received, longest)
    }
}

/// A reproducible order for a given seed: the project's SplitMix64 (CulvertCore).
public typealias SeededGenerator = SeededRandomNumberGenerator
