// ManagerMetrics without a daemon: counters only grow (a new TUN's counters are added whole), a
// removed profile's series go, connect durations and upgrade outcomes are counted from events, and
// every series carries the help text `promtool check metrics` requires.

import CulvertCore
import XCTest

@testable import CulvertManager

final class ManagerMetricsTests: XCTestCase {
    private let daemon = DaemonInfo(version: "0.1.0", pid: 1, epoch: "e", startedAt: "2026-12-03T00:00:00.000Z")

    private func session(_ profile: String, state: SessionState, tx: Int64 = 0, pid: Int64? = 7, denied: Int64 = 0) -> SessionInfo {
        var info = SessionInfo(
            profile: profile, id: "id-\(profile)", extensionIdentifier: "io.example.vpn", extensionVersion: "1.0.0", requestedAt: "")
        info.state = state
        info.counters = SessionCounters(rxBytes: tx * 2, rxPackets: tx / 100, txBytes: tx, txPackets: tx / 100)
        info.pid = pid
        var containment = SessionContainment()
        containment.deniedCalls = denied
        info.containment = containment
        return info
    }

    private func render(_ metrics: ManagerMetrics, _ sessions: [SessionInfo], extensions: [ExtensionInfo] = []) -> String {
        metrics.refresh(
            status: ManagerStatus(daemon: daemon, seq: 1, profiles: [], extensions: extensions, sessions: sessions, problems: []),
            ringEvents: 3, watchers: 1, limits: nil)
        return String(decoding: metrics.render(), as: UTF8.self)
    }

    func testCountersOnlyGrowAcrossANewTun() {
        let metrics = ManagerMetrics(version: "0.1.0", startTime: 1, ringCapacity: 10)
        var text = render(metrics, [session("office", state: .connected, tx: 1000)])
        XCTAssertEqual(PrometheusText.value(text, "culvert_session_transmit_bytes_total{profile=\"office\"}"), 1000)
        text = render(metrics, [session("office", state: .connected, tx: 1500)])
        XCTAssertEqual(PrometheusText.value(text, "culvert_session_transmit_bytes_total{profile=\"office\"}"), 1500)
        // A reconnect: the new TUN counts from 0 again; its 200 bytes are added, nothing is subtracted.
        text = render(metrics, [session("office", state: .connected, tx: 200)])
        XCTAssertEqual(PrometheusText.value(text, "culvert_session_transmit_bytes_total{profile=\"office\"}"), 1700)
        XCTAssertEqual(PrometheusText.value(text, "culvert_session_up{profile=\"office\"}"), 1)
        text = render(metrics, [session("office", state: .disconnected, tx: 200)])
        XCTAssertEqual(PrometheusText.value(text, "culvert_session_up{profile=\"office\"}"), 0)
        XCTAssertEqual(SessionSeries.growth(5, since: 9), 5)
        XCTAssertEqual(SessionSeries.growth(-3, since: 9), 0, "a hostile negative value adds nothing")
    }

    func testDeniedCallsRestartWithANewProviderProcess() {
        let metrics = ManagerMetrics(version: "0.1.0", startTime: 1, ringCapacity: 10)
        _ = render(metrics, [session("office", state: .connected, pid: 7, denied: 3)])
        _ = render(metrics, [session("office", state: .connected, pid: 7, denied: 4)])
        let text = render(metrics, [session("office", state: .connected, pid: 8, denied: 2)])
        XCTAssertEqual(PrometheusText.value(text, "culvert_session_denied_calls_total{profile=\"office\"}"), 6)
    }

    func testARemovedProfileLosesItsSeries() {
        let metrics = ManagerMetrics(version: "0.1.0", startTime: 1, ringCapacity: 10)
        XCTAssertTrue(render(metrics, [session("gone", state: .connected, tx: 10)]).contains("profile=\"gone\""))
        XCTAssertFalse(render(metrics, []).contains("profile=\"gone\""))
    }

    func testConnectDurationsAndUpgradeOutcomesComeFromEvents() {
        let metrics = ManagerMetrics(version: "0.1.0", startTime: 1, ringCapacity: 10)
        let start = ContinuousClock.now
        metrics.observe(
            EventBody(kind: .sessionState, session: session("office", state: .connecting), previousState: .disconnected), now: start)
        metrics.observe(
            EventBody(kind: .sessionState, session: session("office", state: .connected), previousState: .connecting),
            now: start + .milliseconds(40))
        metrics.observe(EventBody(kind: .handoverCompleted, reason: "handover", session: session("office", state: .connected)))
        metrics.observe(EventBody(kind: .handoverCompleted, reason: "restart", session: session("office", state: .connected)))
        metrics.observe(EventBody(kind: .upgradeFailed, reason: "health_timeout", session: session("office", state: .connected)))
        let text = render(metrics, [session("office", state: .connected)])
        XCTAssertEqual(PrometheusText.value(text, "culvert_session_connect_duration_seconds_count{profile=\"office\"}"), 1)
        XCTAssertEqual(
            PrometheusText.value(text, "culvert_session_connect_duration_seconds_bucket{profile=\"office\",le=\"0.05\"}"), 1, text)
        XCTAssertEqual(
            PrometheusText.value(text, "culvert_session_connect_duration_seconds_bucket{profile=\"office\",le=\"0.025\"}"), 0, text)
        for outcome in ["handover", "restart", "failed"] {
            XCTAssertEqual(
                PrometheusText.value(text, "culvert_upgrades_total{extension=\"io.example.vpn\",outcome=\"\(outcome)\"}"), 1, text)
        }
        XCTAssertEqual(PrometheusText.value(text, "culvert_events_published_total"), 5)
    }

    private func extensionInfo(staged version: String?) -> ExtensionInfo {
        var info = ExtensionInfo(
            identifier: "io.example.vpn", displayName: "VPN", version: "1.0.0", build: 1, publisher: "p", signed: true,
            state: version == nil ? .enabled : .replacing, reason: "installed", capabilities: [], source: "/src", storePath: "/store",
            contentDigest: "d", installedAt: "")
        info.effectiveUpgradePolicy = .ask
        info.staged = version.map {
            StagedUpgrade(
                displayName: "VPN", version: $0, build: 1, capabilities: [], source: "/src2", storePath: "/store2", contentDigest: "e",
                stagedAt: "")
        }
        return info
    }

    func testStagedUpgradesReassertingAndKillSwitchAreGauges() {
        let metrics = ManagerMetrics(version: "0.1.0", startTime: 1, ringCapacity: 10)
        var held = session("office", state: .reasserting)
        held.killSwitch = true
        var text = render(metrics, [held], extensions: [extensionInfo(staged: "2.0.0")])
        XCTAssertEqual(
            PrometheusText.value(text, "culvert_extension_upgrade_staged{extension=\"io.example.vpn\",version=\"2.0.0\",policy=\"ask\"}"),
            1,
            text)
        XCTAssertEqual(PrometheusText.value(text, "culvert_session_reasserting{profile=\"office\"}"), 1)
        XCTAssertEqual(PrometheusText.value(text, "culvert_session_kill_switch_held{profile=\"office\"}"), 1)
        text = render(metrics, [session("office", state: .connected)], extensions: [extensionInfo(staged: nil)])
        XCTAssertFalse(text.contains("culvert_extension_upgrade_staged{"), "applied or cancelled: the series goes")
        XCTAssertEqual(PrometheusText.value(text, "culvert_session_reasserting{profile=\"office\"}"), 0)
        XCTAssertEqual(PrometheusText.value(text, "culvert_session_kill_switch_held{profile=\"office\"}"), 0)
    }

    func testEverySeriesHasHelpAndAType() {
        let metrics = ManagerMetrics(version: "0.1.0", startTime: 1, ringCapacity: 10)
        metrics.observe(EventBody(kind: .upgradeFailed, session: session("office", state: .connected)))
        let start = ContinuousClock.now
        metrics.observe(EventBody(kind: .sessionState, session: session("office", state: .connecting)), now: start)
        metrics.observe(EventBody(kind: .sessionState, session: session("office", state: .connected)), now: start + .seconds(1))
        let text = render(metrics, [session("office", state: .connected, tx: 10)], extensions: [extensionInfo(staged: "2.0.0")])
        for name in MetricName.allCases {
            XCTAssertTrue(text.contains("# HELP \(name.rawValue) "), "\(name.rawValue) has no help:\n\(text)")
            XCTAssertTrue(text.contains("# TYPE \(name.rawValue) "), "\(name.rawValue) has no type:\n\(text)")
            XCTAssertTrue(name.rawValue.hasPrefix("culvert_"))
            XCTAssertEqual(name.rawValue.hasSuffix("_total"), text.contains("# TYPE \(name.rawValue) counter"), name.rawValue)
        }
    }
}

/// The value of the sample `series` (name and labels exactly as written) in Prometheus text.
enum PrometheusText {
    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }
}
