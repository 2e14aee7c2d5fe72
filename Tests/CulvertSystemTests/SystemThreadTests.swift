// SystemThread and ThreadCondition: the pthread-based replacements for Foundation's Thread and
// NSCondition (which would link full Foundation, and its ICU data, into every executable).

import CulvertSystem
import Foundation
import Synchronization
import XCTest

final class SystemThreadTests: XCTestCase {
    func testSpawnRunsTheBodyOnANewThreadNamedByItsFirst15Bytes() throws {
        let seen = Mutex<(thread: Int32, comm: String)?>(nil)
        let finished = DispatchSemaphore(value: 0)
        try SystemThread.spawn(name: "culvert-thread-test") {
            let thread = NetworkNamespace.currentThreadID
            // try?: an unreadable comm is "" and fails the assertion below.
            let comm = (try? String(contentsOfFile: "/proc/self/task/\(thread)/comm", encoding: .utf8)) ?? ""
            seen.withLock { $0 = (thread, comm) }
            finished.signal()
        }
        XCTAssertEqual(finished.wait(timeout: .now() + 10), .success, "the thread did not run its body")
        let result = try XCTUnwrap(seen.withLock { $0 })
        XCTAssertNotEqual(result.thread, NetworkNamespace.currentThreadID)
        XCTAssertEqual(result.comm, "culvert-thread-\n")
    }

    func testTimedWaitReportsTheDeadlineAndABroadcastWakesAWaiter() {
        let condition = ThreadCondition()
        condition.lock()
        var timedOut = false
        for _ in 0..<100 where !timedOut {  // a wake-up may be spurious; a deadline passes for good
            timedOut = !condition.wait(until: .after(.milliseconds(5)))
        }
        condition.unlock()
        XCTAssertTrue(timedOut, "a wait with nobody signalling never reported its deadline")

        let flag = Mutex(false)
        SystemThread.start(name: "culvert-signal") {
            condition.withLock {
                flag.withLock { $0 = true }
                condition.broadcast()
            }
        }
        condition.lock()
        var woken = true
        while woken && !flag.withLock({ $0 }) { woken = condition.wait(until: .after(.seconds(10))) }
        condition.unlock()
        XCTAssertTrue(flag.withLock { $0 }, "the waiter was not woken by the broadcast")
    }

    func testADeadlineInThePastOrNegativeDoesNotBlock() {
        let condition = ThreadCondition()
        condition.withLock {
            XCTAssertFalse(condition.wait(until: .after(.seconds(-1))))
            XCTAssertFalse(condition.wait(until: .after(.zero)))
        }
    }

    func testSleepLastsAtLeastTheInterval() {
        let start = ContinuousClock.now
        SystemThread.sleep(forTimeInterval: 0.02)
        XCTAssertGreaterThanOrEqual(start.duration(to: .now), .milliseconds(20))
    }
}
