// The Sessions pane's live numbers and the status line's transient states, as pure functions:
// rates from successive session_stats, the sparkline, uptime, re-exec, and action progress.

import CulvertClient
import CulvertCore
import XCTest

@testable import CulvertTUIModel

final class TUIStateTrafficTests: XCTestCase {
    typealias S = TUIStateSessionTests
    /// 2025-01-01T12:00:00Z in seconds since 1970.
    static let noon = 1_735_732_800.0

    static func stats(_ seq: Int64, at second: Double, rx: Int64, tx: Int64, id: String = "id-lab") -> TUIMessage {
        var session = S.session("lab", .connected)
        session.id = id
        session.connectedAt = "2025-01-01T11:58:55.500Z"
        session.counters = SessionCounters(rxBytes: rx, rxPackets: rx / 100, txBytes: tx, txPackets: tx / 100)
        let event = Event(seq: seq, epoch: S.epoch, time: time(second), body: EventBody(kind: .sessionStats, session: session))
        return .watch(.event(event))
    }

    /// `second` seconds after noon as culvertd writes it.
    static func time(_ second: Double) -> String {
        let whole = Int(second)
        let millis = Int(((second - Double(whole)) * 1000).rounded())
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let ms = millis < 10 ? "00\(millis)" : (millis < 100 ? "0\(millis)" : "\(millis)")
        return "2025-01-01T12:\(two(whole / 60)):\(two(whole % 60)).\(ms)Z"
    }

    static func tick(_ second: Double) -> TUIMessage { .tick(monotonic: second, wall: noon + second) }

    static func row(_ state: TUIState, width: Int = 80, unicode: Bool = true) -> String {
        let screen = Layout(width: width, height: 24, unicode: unicode).lines(for: state).map(\.text)
        return screen.first { $0.contains("lab") && $0.contains("connected (") } ?? screen.joined(separator: "\n")
    }

    func testRFC3339Parsing() {
        XCTAssertEqual(SessionTraffic.seconds(rfc3339: "1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(SessionTraffic.seconds(rfc3339: "2025-01-01T12:00:00.000Z"), Self.noon)
        XCTAssertEqual(SessionTraffic.seconds(rfc3339: "2024-02-29T23:59:59.250Z"), 1_709_251_199.25)
        XCTAssertNil(SessionTraffic.seconds(rfc3339: "yesterday"))
        XCTAssertNil(SessionTraffic.seconds(rfc3339: "2025-13-01T00:00:00Z"))
    }

    func testWords() {
        XCTAssertEqual(SessionTraffic.rate(0), "0B/s")
        XCTAssertEqual(SessionTraffic.rate(980), "980B/s")
        XCTAssertEqual(SessionTraffic.rate(1000), "1.0K/s")
        XCTAssertEqual(SessionTraffic.rate(9.84 * 1024), "9.8K/s")
        XCTAssertEqual(SessionTraffic.rate(512 * 1024), "512K/s")
        XCTAssertEqual(SessionTraffic.rate(1.25 * 1024 * 1024), "1.3M/s")
        XCTAssertEqual(SessionTraffic.uptime(42), "42s")
        XCTAssertEqual(SessionTraffic.uptime(12 * 60 + 3), "12m03s")
        XCTAssertEqual(SessionTraffic.uptime(3 * 3600 + 7 * 60 + 59), "3h07m")
        XCTAssertEqual(SessionTraffic.uptime(2 * 86_400 + 3 * 3600), "2d03h")
        XCTAssertEqual(SessionTraffic.sparkline([nil, 0, 10, 40, 80], unicode: true), " ▁▂▅█")
        XCTAssertEqual(SessionTraffic.sparkline([nil, 0, 10, 40, 80], unicode: false), " _.=#")
        XCTAssertEqual(SessionTraffic.sparkline([0, 0], unicode: true), "▁▁")
    }

    func testRatesComeFromSuccessiveStatsAndFallToZeroWhenTheyStop() {
        var state = TUIState().reduced([S.snapshot(profiles: ["lab"], sessions: []), Self.tick(0)])
        state = state.reduced([Self.stats(2, at: 0, rx: 1000, tx: 500)])
        XCTAssertTrue(Self.row(state).contains("↓0B/s"), Self.row(state))  // one sample: no rate yet, nothing seen moving
        state = state.reduced([Self.stats(3, at: 2, rx: 1000 + 2 * 2048, tx: 500 + 2 * 300), Self.tick(2.1)])
        var row = Self.row(state)
        XCTAssertTrue(row.contains("↓2.0K/s  ↑300B/s"), row)
        XCTAssertTrue(row.contains(" 1m06s "), "uptime from connectedAt (11:58:55.5): \(row)")
        XCTAssertTrue(row.contains("● connected (user_request)"), row)
        XCTAssertTrue(
            row.hasSuffix("      █"), "the last of six 10 s buckets holds the traffic, the others are from before the first: \(row)")
        // culvertd sends stats only on change: silence for a few intervals means nothing moves.
        state = state.reduced([Self.tick(6.5)])
        row = Self.row(state)
        XCTAssertTrue(row.contains("↓0B/s    ↑0B/s"), row)
        // ASCII: the arrows and blocks have fallbacks.
        state = state.reduced([Self.stats(4, at: 7, rx: 100_000, tx: 1500), Self.tick(7)])
        // After 5 s of silence the bytes moved within the last 2 s interval: 94904 B / 2 s, 400 B / 2 s.
        XCTAssertTrue(Self.row(state, unicode: false).contains("v46K/s   ^200B/s"), Self.row(state, unicode: false))
        XCTAssertTrue(Self.row(state, unicode: false).hasSuffix(" #"), Self.row(state, unicode: false))
    }

    func testNewSessionOrLowerCountersRestartTheRates() {
        var state = TUIState().reduced([
            S.snapshot(profiles: ["lab"], sessions: []), Self.stats(2, at: 0, rx: 5000, tx: 5000), Self.stats(3, at: 1, rx: 9000, tx: 9000),
            Self.tick(1),
        ])
        XCTAssertEqual(state.traffic["lab"]?.rates.count, 1)
        state = state.reduced([Self.stats(4, at: 2, rx: 10, tx: 10, id: "id-new"), Self.stats(5, at: 3, rx: 20, tx: 20, id: "id-new")])
        XCTAssertEqual(state.traffic["lab"]?.sessionID, "id-new")
        XCTAssertEqual(state.traffic["lab"]?.rates.map(\.rx), [10])
        state = state.reduced([Self.stats(6, at: 4, rx: 5, tx: 5, id: "id-new")])  // counters went down: a new baseline
        XCTAssertEqual(state.traffic["lab"]?.rates.count, 1)
        // A disconnected session has no traffic; its row gives the reason the room.
        var down = S.session("lab", .disconnected, reason: "user_request")
        down.id = "id-new"
        state = state.reduced([S.stateChange(7, down, from: .disconnecting)])
        XCTAssertNil(state.traffic["lab"])
        XCTAssertTrue(Self.row(state).contains("○ disconnected (user_request)"), Self.row(state))
    }

    func testSessionRowsFitEightyColumns() {
        var state = TUIState().reduced([S.snapshot(profiles: ["lab"], sessions: []), Self.tick(0)])
        state = state.reduced([Self.stats(2, at: 0, rx: 0, tx: 0), Self.stats(3, at: 1, rx: 900 * 1024 * 1024, tx: 1023), Self.tick(1)])
        for unicode in [true, false] {
            let row = Self.row(state, unicode: unicode)
            XCTAssertEqual(row.count, 80, row)
            XCTAssertTrue(row.contains(unicode ? "● connected (user_request) " : "* connected (user_request) "), row)
            XCTAssertTrue(row.contains(unicode ? "↓900M/s  ↑1.0K/s" : "v900M/s  ^1.0K/s"), row)
        }
    }

    func testWiderTerminalsShowTheTunnelAddress() {
        var state = TUIState().reduced([S.snapshot(profiles: ["lab"], sessions: []), Self.tick(0)])
        state = state.reduced([Self.stats(2, at: 0, rx: 0, tx: 0), Self.tick(1)])
        let narrow = Self.row(state, width: 80)
        XCTAssertFalse(narrow.contains("10.9.0.2/24"), "80 columns keep the state and reason whole: \(narrow)")
        let wide = Self.row(state, width: 140)
        XCTAssertEqual(wide.count, 140, wide)
        XCTAssertTrue(wide.contains(" 10.9.0.2/24 "), wide)
        XCTAssertTrue(wide.contains("● connected (user_request) "), wide)
    }

    func testReexecShowsGoingAwayThenLiveWithTheNewImage() {
        var state = TUIState().reduced([S.snapshot(profiles: ["lab"], sessions: [])])
        state = state.reduced([S.event(2, EventBody(kind: .daemonGoingAway, reason: "reexec"))])
        XCTAssertEqual(state.channelText, "daemon going away (re-exec) · seq 2")
        XCTAssertFalse(state.isStale, "the channel stays open through a re-exec")
        let screen = Layout(width: 80, height: 24, unicode: true).lines(for: state).map(\.text)
        XCTAssertTrue(screen[23].hasPrefix("daemon going away (re-exec) · seq 2"), screen[23])
        let image = DaemonInfo(version: "0.2.0", pid: 1, epoch: S.epoch, startedAt: "2025-01-01T00:00:00Z")
        state = state.reduced([S.event(3, EventBody(kind: .daemonBack, daemon: image, reason: "reexec", previousVersion: "0.1.0"))])
        XCTAssertEqual(state.channelText, "live · seq 3")
        XCTAssertEqual(state.daemon?.version, "0.2.0")
        XCTAssertEqual(state.message, "culvertd re-executed: 0.1.0 → 0.2.0 (pid 1), epoch unchanged")
        XCTAssertEqual(
            Array(state.log.suffix(2)), ["12:00:02 #2 daemon_going_away reexec", "12:00:03 #3 daemon_back culvertd 0.2.0 pid 1"])
    }

    func testLongActionsCountTheirSecondsUntilTheResult() {
        var state = TUIState().reduced([S.snapshot(profiles: ["lab"], sessions: []), Self.tick(10)])
        let effects = state.reduce(.key(.character("c")))
        XCTAssertEqual(effects, [.connect(profile: "lab")])
        let layout = Layout(width: 80, height: 24, unicode: true)
        XCTAssertTrue(layout.lines(for: state)[22].text.hasPrefix("connecting lab…  "), layout.lines(for: state)[22].text)
        state = state.reduced([Self.tick(13.4)])
        XCTAssertTrue(layout.lines(for: state)[22].text.hasPrefix("connecting lab… 3s "), layout.lines(for: state)[22].text)
        state = state.reduced([.actionFinished(text: "connect lab failed (l shows the log): start_timeout: …", denied: nil)])
        XCTAssertNil(state.pending)
        XCTAssertTrue(layout.lines(for: state)[22].text.hasPrefix("connect lab failed (l shows the log): start_timeout"))
    }

    func testASessionResultGoesWhenTheSessionChangesElsewhere() {
        var state = TUIState().reduced([S.snapshot(profiles: ["lab"], sessions: []), .key(.character("c"))])
        let up = S.session("lab", .connected, reason: "provider_started")
        state = state.reduced([
            S.stateChange(2, up, from: .connecting), .sessionActionFinished(text: "lab is connected on tun7", session: up),
        ])
        XCTAssertEqual(state.message, "lab is connected on tun7")
        state = state.reduced([S.event(3, EventBody(kind: .sessionStats, session: up))])
        XCTAssertEqual(state.message, "lab is connected on tun7", "still true")
        state = state.reduced([S.stateChange(4, S.session("lab", .disconnecting), from: .connected)])
        XCTAssertEqual(state.message, "", "disconnected from another shell: no longer true")
    }
}
