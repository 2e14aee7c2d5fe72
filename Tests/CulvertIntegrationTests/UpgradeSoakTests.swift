// The reduced upgrade soak (issue 5) in `make test`: 5 live extension upgrades (v1 ⇄ v2 with
// handover, downgrade allowed), 5 daemon re-execs and 3 kill -9 + restarts in a seeded random
// order, under a 200 pps ping, with three CulvertClient watchers and one on the reference Python
// varlink implementation. The full soak is `culvert-bench soak` (docs/BENCHMARKS.md).

import CulvertTesting
import Foundation
import XCTest

final class UpgradeSoakTests: XCTestCase {

    func testReducedSoakOfUpgradesReexecsAndCrashes() async throws {
        let lab = try TunnelLab(test: self)
        try lab.saveProfile("soak", options: ["routes": "10.99.0.0/24"])
        let before = try lab.networkStateA()
        let plan = SoakPlan(
            upgrades: 5, reexecs: 5, crashes: 3, pingInterval: 0.005, watchers: 3, settle: .milliseconds(400), seed: 4,
            referenceWatcher: (Repository.python, Repository.root + "/Tests/Fixtures/reference-watcher/watch.py"), iperf: false)
        let report = try await SoakRunner.run(plan, lab: lab, profile: "soak")
        print(report)
        XCTAssertEqual(report.failedOperations, [])
        XCTAssertEqual(report.invalidations, [], "no watcher may be invalidated")
        XCTAssertEqual(report.gaps, [], "no gap or duplicate within an epoch")
        XCTAssertEqual(report.interruptions, [3, 3, 3], "one interruption per crash, none per upgrade or re-exec")
        XCTAssertEqual(report.referenceSummary["gaps"], "[]", "\(report.referenceSummary)")
        XCTAssertEqual(report.referenceSummary["duplicates"], "[]", "\(report.referenceSummary)")
        XCTAssertEqual(report.referenceSummary["subscriptions"], "4", "the first, then one per crash: \(report.referenceSummary)")
        XCTAssertEqual(report.lostPings, 0, "\(report)")
        XCTAssertGreaterThan(report.pingsReceived, 0)
        XCTAssertEqual(report.providerPIDs.count, 6, "one provider, then a new one per upgrade, none per re-exec or crash")
        XCTAssertTrue(report.sessionState.hasPrefix("connected"), report.sessionState)
        XCTAssertLessThan(report.readoptionSeconds.max() ?? 0, 2.0, "re-adoption within 2 s per session")
        _ = try lab.daemon.connect().call("io.culvert.Manager.Disconnect", ["profile": .string("soak")], timeoutMilliseconds: 20_000)
        try lab.assertNetworkState(equals: before)
    }
}
