// The kill switch in the TUI: the profile list flags it (with the number of exceptions), and the
// session overlay (SessionDescription, shared with `culvertctl session show`) says held/released.

import CulvertClient
import CulvertCore
import XCTest

@testable import CulvertTUIModel

final class TUIKillSwitchTests: XCTestCase {
    func testProfileListFlagsTheKillSwitch() {
        let status = ManagerStatus(
            daemon: DaemonInfo(version: "0.1.0", pid: 1, epoch: "e1", startedAt: "2025-01-01T00:00:00Z"), seq: 1,
            profiles: [
                Profile(name: "guarded", extensionIdentifier: "io.culvert.test", killSwitch: true, killSwitchAllow: ["192.168.1.0/24"]),
                Profile(name: "open", extensionIdentifier: "io.culvert.test"),
                Profile(name: "strict", extensionIdentifier: "io.culvert.test", killSwitch: true),
            ], sessions: [], problems: [])
        let state = TUIState().reduced([
            .watch(.event(Event(seq: 1, epoch: "e1", time: "2025-01-01T12:00:00.000Z", body: EventBody(kind: .snapshot), status: status)))
        ])
        let screen = Layout(width: 120, height: 30, unicode: true).lines(for: state).map(\.text)
        func row(_ name: String) -> String { screen.first { $0.contains(" \(name) ") } ?? "no row for \(name)" }
        XCTAssertTrue(row("guarded").contains("kill-switch (allow 1)"), row("guarded"))
        XCTAssertTrue(row("strict").contains("kill-switch,"), row("strict"))
        XCTAssertFalse(row("open").contains("kill-switch"), row("open"))
    }

    func testSessionDescriptionSaysHeldOrReleased() {
        var session = SessionInfo(
            profile: "p", id: "s", extensionIdentifier: "io.culvert.test", extensionVersion: "1.0.0", requestedAt: "2025-01-01T00:00:00Z")
        func line(_ session: SessionInfo) -> String? {
            SessionDescription.contextRows(session).first { $0.first == "kill switch" }?.last
        }
        XCTAssertNil(line(session), "no kill switch, no row")
        session.killSwitch = true
        XCTAssertEqual(line(session), "held (nothing leaves outside the tunnel)")
        session.killSwitch = false
        XCTAssertEqual(line(session), "released")
    }
}
