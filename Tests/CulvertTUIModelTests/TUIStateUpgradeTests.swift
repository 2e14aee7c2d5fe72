// The extensions pane with upgrade policies: upgrade_pending shows the staged version and the
// policy in force, upgrade_cancelled takes the staged version away again. No terminal, no daemon.

import CulvertClient
import CulvertCore
import XCTest

@testable import CulvertTUIModel

final class TUIStateUpgradeTests: XCTestCase {
    static func info(staged: String?, policy: UpgradePolicy) -> ExtensionInfo {
        var info = ExtensionInfo(
            identifier: "io.culvert.test", displayName: "Test", version: "1.0.0", build: 1, publisher: "unsigned", signed: false,
            state: staged == nil ? .enabled : .replacing, reason: staged == nil ? "cancelled" : "upgrade_pending", capabilities: [],
            source: "", storePath: "", contentDigest: "aaaa", installedAt: "t")
        info.effectiveUpgradePolicy = policy
        info.staged = staged.map {
            StagedUpgrade(
                displayName: "Test", version: $0, build: 2, capabilities: [], source: "", storePath: "", contentDigest: "bbbb",
                stagedAt: "t2")
        }
        return info
    }

    func testTheExtensionsPaneShowsAStagedVersionAndItsPolicy() {
        var state = TUIState().reduced([TUIStateSessionTests.snapshot(profiles: [], sessions: [])])
        state = state.reduced([
            TUIStateSessionTests.event(
                2, EventBody(kind: .upgradePending, reason: "ask", extensionInfo: Self.info(staged: "2.0.0", policy: .ask)))
        ])
        XCTAssertEqual(state.extensions.first?.staged?.version, "2.0.0")
        XCTAssertTrue(
            state.log.last?.contains("upgrade_pending io.culvert.test 1.0.0 (1) replacing staged 2.0.0 (2)") == true, "\(state.log)")
        let wide = Layout(width: 120, height: 30, unicode: true).lines(for: state).map(\.text)
        let row = wide.first { $0.contains("io.culvert.test") && $0.contains("replacing") }
        XCTAssertTrue(row?.contains("ask: 2.0.0 (2) staged") == true, wide.joined(separator: "\n"))
        let narrow = Layout(width: 80, height: 24, unicode: true).lines(for: state).map(\.text)
        XCTAssertTrue(narrow.contains { $0.contains("io.culvert.test") && $0.contains("replacing") }, narrow.joined(separator: "\n"))

        state = state.reduced([
            TUIStateSessionTests.event(
                3, EventBody(kind: .upgradeCancelled, reason: "cancelled", extensionInfo: Self.info(staged: nil, policy: .ask)))
        ])
        XCTAssertNil(state.extensions.first?.staged)
        let after = Layout(width: 120, height: 30, unicode: true).lines(for: state).map(\.text)
        let cancelled = after.first { $0.contains("io.culvert.test") && $0.contains("enabled") }
        XCTAssertNotNil(cancelled, after.joined(separator: "\n"))
        XCTAssertFalse(cancelled?.contains("staged") == true, cancelled ?? "")
        XCTAssertEqual(Layout.upgradeCell(Self.info(staged: nil, policy: .whenIdle)), "when-idle")
    }
}
