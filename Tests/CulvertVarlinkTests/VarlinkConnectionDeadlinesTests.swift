// VarlinkConnectionDeadlines: which deadline runs when, and that trickling never extends one.

import XCTest

@testable import CulvertVarlink

final class VarlinkConnectionDeadlinesTests: XCTestCase {
    let start = ContinuousClock.now

    func testIdleRunsFromTheStartAndEachFinalReplyButNotDuringACall() {
        var deadlines = VarlinkConnectionDeadlines(partialMessage: .seconds(10), idle: .seconds(60), now: start)
        XCTAssertEqual(deadlines.next, start + .seconds(60))
        XCTAssertEqual(deadlines.expired(at: start + .seconds(60)), .idle)
        deadlines.callStarted()
        XCTAssertNil(deadlines.next)
        XCTAssertNil(deadlines.expired(at: start + .seconds(600)))
        deadlines.callFinished(now: start + .seconds(100))
        XCTAssertEqual(deadlines.next, start + .seconds(160))
    }

    func testAPartialMessageRunsFromItsFirstByteAndTricklingDoesNotExtendIt() {
        var deadlines = VarlinkConnectionDeadlines(partialMessage: .seconds(10), idle: .seconds(60), now: start)
        deadlines.input(partialMessageStart: 0, now: start + .seconds(1))
        for second in 2..<11 { deadlines.input(partialMessageStart: 0, now: start + .seconds(second)) }
        XCTAssertEqual(deadlines.next, start + .seconds(11))
        XCTAssertNil(deadlines.expired(at: start + .seconds(10)))
        XCTAssertEqual(deadlines.expired(at: start + .seconds(11)), .partialMessage)
        // While a message arrives the connection is not idle, even past the idle deadline.
        XCTAssertEqual(deadlines.expired(at: start + .seconds(70)), .partialMessage)
        // A new message restarts it; a complete one stops it.
        deadlines.input(partialMessageStart: 500, now: start + .seconds(5))
        XCTAssertEqual(deadlines.next, start + .seconds(15))
        deadlines.input(partialMessageStart: nil, now: start + .seconds(6))
        XCTAssertEqual(deadlines.next, start + .seconds(60))
    }

    func testTheAdministratorHasNoIdleDeadline() {
        let deadlines = VarlinkConnectionDeadlines(partialMessage: .seconds(10), idle: nil, now: start)
        XCTAssertNil(deadlines.next)
        XCTAssertNil(deadlines.expired(at: start + .seconds(86_400)))
    }

    func testReservedSlotsKeepClassesBelowOutOfReach() {
        var limits = VarlinkLimits()
        limits.maximumConnections = 40
        limits.reservedAdminConnections = 10
        limits.reservedReaderConnections = 10
        XCTAssertEqual(limits.connectionCeiling(for: .admin), 40)
        XCTAssertEqual(limits.connectionCeiling(for: .reader), 30)
        XCTAssertEqual(limits.connectionCeiling(for: .other), 20)
        XCTAssertEqual(limits.budget(for: .other).maximumMessageSize, VarlinkLimits.unprivilegedMaximumMessageSize)
        XCTAssertEqual(limits.budget(for: .admin).maximumMessageSize, VarlinkLimits.defaultMaximumMessageSize)
        XCTAssertNil(limits.budget(for: .admin).idleDeadline)
    }
}
