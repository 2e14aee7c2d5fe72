// UpgradeBatch: sessions upgraded one by one; the first failure moves the upgraded ones back.

import CulvertCore
import XCTest

final class UpgradeBatchTests: XCTestCase {
    func testAllUpgradedInOrder() {
        var batch = UpgradeBatch(profiles: ["a", "b", "c"])
        XCTAssertEqual(batch.start(), .upgrade("a"))
        XCTAssertEqual(batch.finished(failed: false), .upgrade("b"))
        XCTAssertEqual(batch.skipped(), .upgrade("c"), "b ended meanwhile: nothing to move")
        XCTAssertEqual(batch.finished(failed: false), .done(failedProfile: nil))
        XCTAssertEqual(batch.moved, ["a", "c"])
    }

    func testNoSessions() {
        var batch = UpgradeBatch(profiles: [])
        XCTAssertEqual(batch.start(), .done(failedProfile: nil))
    }

    func testFirstFailureMovesTheUpgradedOnesBack() {
        var batch = UpgradeBatch(profiles: ["a", "b", "c", "d"])
        XCTAssertEqual(batch.start(), .upgrade("a"))
        XCTAssertEqual(batch.finished(failed: false), .upgrade("b"))
        XCTAssertEqual(batch.finished(failed: false), .upgrade("c"))
        XCTAssertEqual(batch.finished(failed: true), .moveBack("a"), "d is never tried")
        XCTAssertEqual(batch.finished(failed: true), .moveBack("b"), "one that cannot go back keeps the target version")
        XCTAssertEqual(batch.skipped(), .done(failedProfile: "c"))
        XCTAssertEqual(batch.failedProfile, "c")
    }

    func testFailureOfTheFirstSessionMovesNothing() {
        var batch = UpgradeBatch(profiles: ["a", "b"])
        _ = batch.start()
        XCTAssertEqual(batch.finished(failed: true), .done(failedProfile: "a"))
    }
}
