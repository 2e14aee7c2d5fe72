import CulvertCore
import XCTest

final class EventLogTests: XCTestCase {
    func body(_ name: String) -> EventBody { EventBody(kind: .profileSaved, name: name) }

    func testSeqGrowsByOneAndRingKeepsTheNewest() {
        var log = EventLog(epoch: "e", capacity: 3)
        XCTAssertEqual(log.lastSeq, 0)
        XCTAssertEqual(log.oldestSeq, 1)
        let seqs = (1...5).map { log.append(body("p\($0)"), time: "t").seq }
        XCTAssertEqual(seqs, [1, 2, 3, 4, 5])
        XCTAssertEqual(log.oldestSeq, 3)
        XCTAssertEqual(log.events(after: 0).map(\.seq), [3, 4, 5])
        XCTAssertEqual(log.events(after: 3).map(\.seq), [4, 5])
        XCTAssertEqual(log.events(after: 5).map(\.seq), [])
        XCTAssertEqual(log.events(after: 4).map(\.name), ["p5"])
    }

    func testResumeDecisions() {
        var log = EventLog(epoch: "e", capacity: 4)
        for i in 1...10 { _ = log.append(body("p\(i)"), time: "t") }  // holds 7...10
        XCTAssertEqual(log.resume(since: nil, epoch: "e"), .snapshot(.noPosition))
        XCTAssertEqual(log.resume(since: 8, epoch: nil), .snapshot(.noPosition))
        XCTAssertEqual(log.resume(since: 8, epoch: "other"), .snapshot(.otherEpoch))
        XCTAssertEqual(log.resume(since: 11, epoch: "e"), .snapshot(.ahead))
        XCTAssertEqual(log.resume(since: 5, epoch: "e"), .snapshot(.tooOld))
        guard case .replay(let fromSix) = log.resume(since: 6, epoch: "e") else { return XCTFail("6 is servable: 7... are held") }
        XCTAssertEqual(fromSix.map(\.seq), [7, 8, 9, 10])
        XCTAssertEqual(log.resume(since: 10, epoch: "e"), .replay([]))
        guard case .replay(let fromNine) = log.resume(since: 9, epoch: "e") else { return XCTFail() }
        XCTAssertEqual(fromNine.map(\.seq), [10])
    }

    func testStartingAfterASeqContinuesTheNumbering() {
        var log = EventLog(epoch: "e", capacity: 8, startingAfter: 41)
        XCTAssertEqual(log.resume(since: 41, epoch: "e"), .replay([]))
        XCTAssertEqual(log.append(body("x"), time: "t").seq, 42)
        XCTAssertEqual(log.resume(since: 40, epoch: "e"), .snapshot(.tooOld))
    }

    func testEventsAlwaysCarryTheLogsEpoch() {
        var log = EventLog(epoch: "abc")
        XCTAssertEqual(log.append(body("x"), time: "2026-01-01T00:00:00.000Z").epoch, "abc")
    }
}
