// The reduced upgrade soak (issue 5): one tunnel carrying a steady ping, three CulvertClient
// watchers, then daemon re-execs and kill -9 + restarts in a fixed shuffled order. Asserted:
// no watcher is invalidated; within an epoch no seq gap or duplicate; a re-exec causes no
// interruption at all and a crash exactly one (resumed through a snapshot); no ping is lost; the
// tunnel keeps its provider; afterwards `ip -j` is back at its baseline.

import CulvertClient
import CulvertCore
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

/// Collects one watcher's updates and checks the stream contract as they arrive.
private actor WatchLedger {
    var epoch: String?
    var lastSeq: Int64?
    var gaps: [String] = []
    var interruptions = 0
    var invalidations: [String] = []
    var snapshots = 0
    var kinds: [String] = []

    func record(_ update: WatchUpdate) {
        switch update {
        case .event(let event):
            kinds.append(event.kind.rawValue)
            if event.kind == .snapshot {
                snapshots += 1
                epoch = event.epoch
                lastSeq = event.seq
                return
            }
            if event.epoch == epoch, let last = lastSeq, event.seq != last + 1 {
                gaps.append("\(event.epoch): \(last) → \(event.seq) (\(event.kind))")
            }
            epoch = event.epoch
            lastSeq = event.seq
        case .interrupted: interruptions += 1
        case .resumed: break
        case .invalidated(let cause, _): invalidations.append("\(cause)")
        }
    }

    var summary: (gaps: [String], interruptions: Int, invalidations: [String], snapshots: Int, kinds: [String]) {
        (gaps, interruptions, invalidations, snapshots, kinds)
    }
}

final class UpgradeSoakTests: XCTestCase {
    func testReducedSoakOfReexecsAndCrashes() async throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("soak", options: ["routes": "10.99.0.0/24"])
        let before = try h.networkStateA()
        let pid = try XCTUnwrap(try h.connect("soak")["session"]?["pid"]?.intValue)

        let policy = WatchPolicy(initialBackoff: .milliseconds(20), maximumBackoff: .milliseconds(200))
        let ledgers = (0..<3).map { _ in WatchLedger() }
        var streams: [WatchStream] = []
        var tasks: [Task<Void, Never>] = []
        for ledger in ledgers {
            let stream = CulvertClient(socketPath: h.daemon.socketPath).watch(policy: policy)
            streams.append(stream)
            tasks.append(Task { for await update in stream { await ledger.record(update) } })
        }
        defer { streams.forEach { $0.cancel() } }
        // A fourth watcher built on the reference implementation (PyPI varlink), resuming by itself.
        let summaryPath = h.directory.path + "/reference-watch.json"
        let reference = Process()
        reference.executableURL = URL(fileURLWithPath: Repository.python)
        reference.arguments = [
            Repository.root + "/Tests/Fixtures/reference-watcher/watch.py", "--socket", h.daemon.socketPath, "--summary", summaryPath,
            "--seconds", "120",
        ]
        let referenceLog = h.directory.path + "/reference-watch.log"
        _ = FileManager.default.createFile(atPath: referenceLog, contents: nil)
        reference.standardOutput = FileHandle(forWritingAtPath: referenceLog)
        reference.standardError = FileHandle(forWritingAtPath: referenceLog)
        try reference.run()
        defer { if reference.isRunning { reference.interrupt() } }
        try await Task.sleep(for: .milliseconds(300))

        // 200 pings a second through the tunnel for the whole run (bounded count).
        let pingLog = h.directory.path + "/soak-ping.log"
        let ping = try h.namespaces.spawn(
            in: h.namespaces.a, ["ping", "-i", "0.005", "-c", "3000", "-W", "1", TunnelLab.behindPeer], output: pingLog)
        defer { if ping.isRunning { ping.terminate() } }
        try await Task.sleep(for: .milliseconds(500))

        // Five re-execs and three crashes, in a fixed shuffled order.
        let operations = ["reexec", "crash", "reexec", "reexec", "crash", "reexec", "crash", "reexec"]
        for operation in operations {
            if operation == "reexec" {
                let control = try h.daemon.connect()
                _ = try control.call("io.culvert.Manager.Reexec", [:], timeoutMilliseconds: replyTimeoutMilliseconds)
            } else {
                h.daemon.crash()
                try h.daemon.start()
            }
            try await Task.sleep(for: .milliseconds(600))
        }
        let deadline = Date().addingTimeInterval(30)
        while ping.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        let pingOutput = (try? String(contentsOfFile: pingLog, encoding: .utf8)) ?? ""  // try?: checked below
        XCTAssertTrue(pingOutput.contains("3000 packets transmitted, 3000 received"), "pings lost:\n\(pingOutput.suffix(400))")

        try await Task.sleep(for: .milliseconds(300))
        for (index, ledger) in ledgers.enumerated() {
            let summary = await ledger.summary
            XCTAssertEqual(summary.invalidations, [], "watcher \(index)")
            XCTAssertEqual(summary.gaps, [], "watcher \(index)")
            XCTAssertEqual(summary.interruptions, 3, "watcher \(index): one per crash, none per re-exec")
            XCTAssertEqual(summary.snapshots, 4, "watcher \(index): the first, then one per crash")
            XCTAssertEqual(summary.kinds.filter { $0 == "daemon_back" }.count, 5, "watcher \(index): \(summary.kinds)")
        }
        reference.terminate()
        let stopped = Date().addingTimeInterval(10)
        while reference.isRunning && Date() < stopped { try await Task.sleep(for: .milliseconds(50)) }
        // try?: only shown if the summary is missing.
        let referenceOutput = (try? String(contentsOfFile: referenceLog, encoding: .utf8)) ?? ""
        guard let summaryData = FileManager.default.contents(atPath: summaryPath),
            let referenceSummary = try JSONSerialization.jsonObject(with: summaryData) as? [String: Any]
        else {
            if reference.isRunning { reference.interrupt() }
            return XCTFail("the reference watcher wrote no summary:\n\(referenceOutput)")
        }
        XCTAssertEqual(referenceSummary["gaps"] as? [[Int]], [], "reference watcher")
        XCTAssertEqual(referenceSummary["duplicates"] as? [Int], [], "reference watcher")
        XCTAssertEqual(referenceSummary["errors"] as? [String], [], "reference watcher")
        XCTAssertEqual(referenceSummary["subscriptions"] as? Int, 4, "reference watcher: the first, then one per crash, none per re-exec")
        XCTAssertEqual((referenceSummary["kinds"] as? [String: Int])?["daemon_back"], 5, "reference watcher: \(referenceSummary)")
        let session = try XCTUnwrap(
            try h.daemon.connect().call("io.culvert.Manager.GetStatus", [:], timeoutMilliseconds: replyTimeoutMilliseconds)["status"]?[
                "sessions"])
        guard case .array(let sessions) = session, let soak = sessions.first(where: { $0["profile"]?.stringValue == "soak" }) else {
            return XCTFail("no session")
        }
        XCTAssertEqual(soak["state"]?.stringValue, "connected")
        XCTAssertEqual(soak["pid"]?.intValue, pid, "the same provider carried the tunnel throughout")
        _ = try h.daemon.connect().call("io.culvert.Manager.Disconnect", ["profile": .string("soak")], timeoutMilliseconds: 20_000)
        try h.assertNetworkState(equals: before)
        tasks.forEach { $0.cancel() }
    }
}
