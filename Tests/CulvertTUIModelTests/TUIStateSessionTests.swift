// The TUI's reducer and layout as pure functions: session events, the filter, selection,
// session keys and overlays. No terminal, no daemon.

import CulvertClient
import CulvertCore
import XCTest

@testable import CulvertTUIModel

final class TUIStateSessionTests: XCTestCase {
    static let epoch = "e1"

    static func session(_ profile: String, _ state: SessionState, reason: String = "user_request", rx: Int64 = 0) -> SessionInfo {
        var session = SessionInfo(
            profile: profile, id: "id-\(profile)", extensionIdentifier: "io.culvert.test", extensionVersion: "1.0.0",
            requestedAt: "2025-01-01T00:00:00.000Z")
        session.state = state
        session.reason = reason
        session.counters = SessionCounters(rxBytes: rx, rxPackets: rx / 100, txBytes: rx / 2, txPackets: rx / 200)
        if state == .connected {
            session.interface = "tun7"
            session.addresses = ["10.9.0.2/24"]
            session.pid = 4242
        }
        return session
    }

    static func event(_ seq: Int64, _ body: EventBody, status: ManagerStatus? = nil) -> TUIMessage {
        .watch(.event(Event(seq: seq, epoch: epoch, time: "2025-01-01T12:00:0\(seq % 10).000Z", body: body, status: status)))
    }

    static func snapshot(profiles: [String], sessions: [SessionInfo]) -> TUIMessage {
        let status = ManagerStatus(
            daemon: DaemonInfo(version: "0.1.0", pid: 1, epoch: epoch, startedAt: "2025-01-01T00:00:00Z"), seq: 1,
            profiles: profiles.map { Profile(name: $0, extensionIdentifier: "io.culvert.test") }, sessions: sessions, problems: [])
        return event(1, EventBody(kind: .snapshot), status: status)
    }

    static func stateChange(_ seq: Int64, _ session: SessionInfo, from previous: SessionState) -> TUIMessage {
        event(seq, EventBody(kind: .sessionState, reason: session.reason, session: session, previousState: previous))
    }

    static func keys(_ text: String) -> [TUIMessage] {
        text.map { .key(.character($0)) }
    }

    var root: TUIState { TUIState() }

    // MARK: session events

    func testSnapshotThenSessionEventsKeepOneSessionPerProfileSorted() {
        var state = root.reduced([Self.snapshot(profiles: ["office", "home"], sessions: [Self.session("office", .disconnected)])])
        XCTAssertEqual(state.sessions.map(\.profile), ["office"])
        state = state.reduced([
            Self.stateChange(2, Self.session("home", .connecting), from: .disconnected),
            Self.stateChange(3, Self.session("office", .connected, reason: "provider_started"), from: .connecting),
        ])
        XCTAssertEqual(state.sessions.map(\.profile), ["home", "office"])
        XCTAssertEqual(state.sessions.map(\.state), [.connecting, .connected])
        XCTAssertEqual(state.seq, 3)
        XCTAssertEqual(state.log.last, "12:00:03 #3 session_state office connecting→connected (provider_started)")
    }

    func testSessionStatsUpdateCountersWithoutFillingTheEventLog() {
        var state = root.reduced([
            Self.snapshot(profiles: ["office"], sessions: []), Self.stateChange(2, Self.session("office", .connected), from: .connecting),
        ])
        let logged = state.log.count
        state = state.reduced([
            Self.event(3, EventBody(kind: .sessionStats, session: Self.session("office", .connected, rx: 3 * 1024 * 1024)))
        ])
        XCTAssertEqual(state.sessions.first?.counters.rxBytes, 3 * 1024 * 1024)
        XCTAssertEqual(state.seq, 3)
        XCTAssertEqual(state.log.count, logged, "session_stats is not logged")
        // From 110 columns the pane adds the byte totals to the rates.
        let screen = Layout(width: 120, height: 30, unicode: true).lines(for: state)
        let row = screen.first { $0.text.contains("office") && $0.text.contains("rx ") }
        XCTAssertNotNil(row, screen.map(\.text).joined(separator: "\n"))
        XCTAssertTrue(row?.text.contains("● connected") == true, row?.text ?? "")
        XCTAssertTrue(row?.text.contains("rx 3.0 MiB") == true, row?.text ?? "")
        XCTAssertTrue(row?.text.contains("tx 1.5 MiB") == true, row?.text ?? "")
        XCTAssertEqual(row?.style, .good)
    }

    func testFailedSessionShowsItsReasonInTheBadStyle() {
        var failed = Self.session("office", .disconnected, reason: "provider_exited")
        failed.failure = SessionFailure(reason: .providerExited, description: "exit status 1", exitStatus: 1, log: ["boom"])
        let state = root.reduced([Self.snapshot(profiles: ["office"], sessions: [failed])])
        let screen = Layout(width: 80, height: 24, unicode: false).lines(for: state)
        let row = screen.first { $0.text.contains("office") && $0.text.contains("o disconnected") }
        XCTAssertNotNil(row, screen.map(\.text).joined(separator: "\n"))
        XCTAssertTrue(row?.text.contains("o disconnected (provider_exited) ") == true, row?.text ?? "")
        XCTAssertEqual(row?.style, .bad)
        XCTAssertTrue(screen.allSatisfy { $0.text.allSatisfy(\.isASCII) && $0.text.count == 80 })
    }

    func testEveryStateHasAMarkAndAStyle() {
        let expected: [SessionState: (String, LineStyle)] = [
            .connected: ("●", .good), .connecting: ("◐", .pending), .reasserting: ("◐", .pending), .disconnecting: ("◐", .pending),
            .disconnected: ("○", .normal), .invalid: ("✖", .bad),
        ]
        for state in SessionState.allCases {
            XCTAssertEqual(Layout.mark(state), expected[state]?.0, "\(state)")
            XCTAssertEqual(Layout.style(Self.session("p", state)), expected[state]?.1, "\(state)")
            XCTAssertEqual(Layout.ascii(Layout.mark(state)).count, 1)
        }
    }

    // MARK: filter and selection

    func testFilterNarrowsProfilesAndSessionsAndEscapeClearsIt() {
        var state = root.reduced([
            Self.snapshot(
                profiles: ["home", "office", "office-backup"],
                sessions: [Self.session("home", .connected), Self.session("office", .disconnected)])
        ])
        state = state.reduced([.key(.character("/"))] + Self.keys("OFF"))
        XCTAssertTrue(state.editingFilter)
        XCTAssertEqual(state.filter, "OFF")
        XCTAssertEqual(state.visibleProfiles.map(\.name), ["office", "office-backup"])
        XCTAssertEqual(state.visibleSessions.map(\.profile), ["office"])
        // While editing, letters are text, not commands: "c" does not connect, "q" does not quit.
        var editing = state
        XCTAssertEqual(editing.reduce(.key(.character("q"))), [])
        XCTAssertFalse(editing.quitting)
        XCTAssertEqual(editing.filter, "OFFq")
        state = state.reduced([.key(.backspace), .key(.enter)])
        XCTAssertFalse(state.editingFilter)
        XCTAssertEqual(state.filter, "OF")
        let screen = Layout(width: 80, height: 24, unicode: true).lines(for: state).map(\.text)
        XCTAssertTrue(screen.contains { $0.contains("Profiles (2 of 3)") }, screen.joined(separator: "\n"))
        XCTAssertTrue(screen.contains { $0.contains("Sessions (1 of 2)") }, screen.joined(separator: "\n"))
        XCTAssertTrue(screen.contains { $0.hasPrefix("filter: OF") }, screen.joined(separator: "\n"))

        // The selection moves within what is visible: the last visible profile is office-backup.
        state = state.reduced([.key(.end)])
        var acting = state
        XCTAssertEqual(acting.reduce(.key(.character("c"))), [.connect(profile: "office-backup")])

        state = state.reduced([.key(.escape)])
        XCTAssertEqual(state.filter, "")
        XCTAssertEqual(state.visibleProfiles.count, 3)
    }

    func testFilterThatMatchesNothingSaysSo() {
        let state = root.reduced(
            [Self.snapshot(profiles: ["home"], sessions: [Self.session("home", .connected)])] + [
                .key(.character("/"))
            ] + Self.keys("zzz"))
        let screen = Layout(width: 80, height: 24, unicode: true).lines(for: state).map(\.text)
        XCTAssertTrue(screen.contains { $0.contains("no profile matches \"zzz\"") }, screen.joined(separator: "\n"))
        XCTAssertTrue(screen.contains { $0.contains("no session matches \"zzz\"") }, screen.joined(separator: "\n"))
        var acting = state.reduced([.key(.enter)])
        XCTAssertEqual(acting.reduce(.key(.character("c"))), [])
        XCTAssertEqual(acting.message, "no profile to connect")
    }

    // MARK: session keys

    func testConnectAndDisconnectActOnTheSelectedProfileOrSession() {
        var state = root.reduced([
            Self.snapshot(profiles: ["alpha", "beta"], sessions: [Self.session("beta", .connected)]), .key(.down),
        ])
        XCTAssertEqual(state.reduce(.key(.character("c"))), [.connect(profile: "beta")])
        XCTAssertEqual(state.message, "connecting beta…")
        state = state.reduced([.key(.tab), .key(.tab)])
        XCTAssertEqual(state.focus, .sessions)
        XCTAssertEqual(state.reduce(.key(.character("d"))), [.disconnect(profile: "beta")])
        state = state.reduced([.key(.tab)])
        XCTAssertEqual(state.focus, .events)
        XCTAssertEqual(state.reduce(.key(.character("c"))), [])
        XCTAssertEqual(state.message, "select a profile first (Tab to the Profiles or Sessions pane)")
    }

    func testReadOnlyUsersCannotConnectOrDisconnect() {
        var state = TUIState(readOnlyReason: "not root (uid 1000)")
        state = state.reduced([Self.snapshot(profiles: ["alpha"], sessions: [Self.session("alpha", .connected)])])
        XCTAssertEqual(state.reduce(.key(.character("c"))), [])
        XCTAssertEqual(state.message, "connect is disabled: read-only (not root (uid 1000))")
        XCTAssertEqual(state.reduce(.key(.character("d"))), [])
        XCTAssertEqual(state.message, "disconnect is disabled: read-only (not root (uid 1000))")
        // Looking is allowed.
        XCTAssertEqual(state.reduce(.key(.character("i"))), [])
        XCTAssertEqual(state.overlay, .context(profile: "alpha"))
    }

    func testLogOverlayFetchesShowsAndIgnoresStaleAnswers() {
        var state = root.reduced([Self.snapshot(profiles: ["alpha", "beta"], sessions: [Self.session("alpha", .connected)])])
        XCTAssertEqual(state.reduce(.key(.character("l"))), [.fetchLog(profile: "alpha")])
        XCTAssertEqual(state.overlay, .log(profile: "alpha"))
        let layout = Layout(width: 80, height: 24, unicode: true)
        XCTAssertTrue(layout.lines(for: state).contains { $0.text.contains("loading…") })

        _ = state.reduce(.logLoaded(profile: "beta", log: SessionLog(lines: ["wrong"], truncated: false)))
        XCTAssertEqual(state.sessionLog?.loading, true, "an answer for another profile is ignored")
        let lines = (1...40).map { "line \($0)" }
        _ = state.reduce(.logLoaded(profile: "alpha", log: SessionLog(lines: lines, truncated: true)))
        var screen = layout.lines(for: state).map(\.text)
        XCTAssertTrue(screen[1].contains("Log of alpha (40 lines, older ones dropped) [1-20 of 40]"), screen[1])
        XCTAssertTrue(screen[2].hasPrefix("  line 1 "), screen[2])
        state = state.reduced([.key(.end)])
        screen = layout.lines(for: state).map(\.text)
        XCTAssertTrue(screen[21].hasPrefix("  line 40 "), screen.joined(separator: "\n"))
        XCTAssertTrue(screen[1].contains("[21-40 of 40]"), screen[1])

        // Any key but scrolling closes; q in an overlay still quits.
        state = state.reduced([.key(.character("x"))])
        XCTAssertNil(state.overlay)
        XCTAssertNil(state.sessionLog)
        XCTAssertEqual(state.confirmingRemoval, nil, "the closing key does nothing else")
        _ = state.reduce(.key(.character("l")))
        XCTAssertEqual(state.reduce(.key(.character("q"))), [.quit])

        // A profile without a session has no log to show.
        var fresh = root.reduced([Self.snapshot(profiles: ["alpha", "beta"], sessions: []), .key(.down)])
        XCTAssertEqual(fresh.reduce(.key(.character("l"))), [])
        XCTAssertEqual(fresh.message, "beta has no session yet (c connects it)")
        XCTAssertNil(fresh.overlay)
    }

    func testLogFetchFailureIsShownInTheOverlay() {
        var state = root.reduced([Self.snapshot(profiles: ["alpha"], sessions: [Self.session("alpha", .connected)])])
        _ = state.reduce(.key(.character("l")))
        _ = state.reduce(.logFailed(profile: "alpha", text: "cannot read the log: permission denied for GetSessionLog"))
        let screen = Layout(width: 80, height: 24, unicode: true).lines(for: state)
        XCTAssertTrue(screen.contains { $0.text.contains("permission denied for GetSessionLog") && $0.style == .notice })
    }

    func testContextOverlayFollowsLiveCounters() {
        var failure = SessionFailure(reason: .startTimeout, description: "no StartTunnel answer in 30 s", log: ["hello", "bye"])
        failure.signal = "SIGKILL"
        var session = Self.session("alpha", .connected, rx: 1536)
        session.failure = failure
        session.connectedBy = Actor(uid: 0, pid: 77, command: "culvertctl")
        var state = root.reduced([Self.snapshot(profiles: ["alpha"], sessions: [session])])
        _ = state.reduce(.key(.character("i")))
        let layout = Layout(width: 100, height: 40, unicode: true)
        var screen = layout.lines(for: state).map(\.text)
        XCTAssertTrue(
            screen.contains { $0.contains("connected by") && $0.contains("uid 0 pid 77 culvertctl") }, screen.joined(separator: "\n"))
        XCTAssertTrue(screen.contains { $0.contains("received") && $0.contains("1.5 KiB (1536 bytes, 15 packets)") })
        XCTAssertTrue(
            screen.contains { $0.contains("last failure") && $0.contains("start_timeout: no StartTunnel answer in 30 s (signal SIGKILL)") })
        XCTAssertTrue(screen.contains { $0.contains("failure log") && $0.contains("hello") })
        session.counters.rxBytes = 5 * 1024 * 1024
        state = state.reduced([Self.event(2, EventBody(kind: .sessionStats, session: session))])
        screen = layout.lines(for: state).map(\.text)
        XCTAssertTrue(screen.contains { $0.contains("received") && $0.contains("5.0 MiB (5242880 bytes") }, screen.joined(separator: "\n"))
    }

    func testHelpListsTheSessionKeys() {
        var state = root
        _ = state.reduce(.key(.character("?")))
        let screen = Layout(width: 80, height: 24, unicode: false).lines(for: state).map(\.text)
        for key in ["  c ", "  d ", "  l ", "  i ", "  / "] {
            XCTAssertTrue(screen.contains { $0.hasPrefix("  " + key) }, "help lacks \(key):\n" + screen.joined(separator: "\n"))
        }
        XCTAssertTrue(screen.allSatisfy { $0.count == 80 && $0.allSatisfy(\.isASCII) })
        state = state.reduced([.key(.escape)])
        XCTAssertNil(state.overlay)
    }

    func testEveryScreenIsExactlyTheTerminalSize() {
        let state = root.reduced([
            Self.snapshot(profiles: (1...30).map { "p\($0)" }, sessions: (1...30).map { Self.session("p\($0)", .connected, rx: 99) })
        ])
        for (width, height) in [(40, 12), (60, 20), (80, 24), (132, 50)] {
            for unicode in [true, false] {
                let lines = Layout(width: width, height: height, unicode: unicode).lines(for: state)
                XCTAssertEqual(lines.count, height)
                XCTAssertTrue(lines.allSatisfy { $0.text.count == width }, "\(width)x\(height)")
            }
        }
    }
}
