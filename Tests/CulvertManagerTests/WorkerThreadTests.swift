// WorkerThread: jobs run in order on one thread that keeps the nice value it was given, which is
// how culvertd's install staging yields the CPU to the manager queue.

import CulvertSystem
import CulvertVarlink
import Foundation
import Synchronization
import XCTest

@testable import CulvertManager

final class WorkerThreadTests: XCTestCase {
    func testJobsRunInOrderOnOneThreadAtTheGivenNiceness() throws {
        let worker = WorkerThread(name: "culvert-test-worker", niceness: 7)
        let seen = Mutex<[(index: Int, thread: Int32, niceness: Int32)]>([])
        let finished = DispatchSemaphore(value: 0)
        let count = 50
        for index in 0..<count {
            worker.async {
                seen.withLock {
                    $0.append((index, NetworkNamespace.currentThreadID, ThreadPriority.currentThreadNiceness))
                }
                if index == count - 1 { finished.signal() }
            }
        }
        XCTAssertEqual(finished.wait(timeout: .now() + 10), .success, "the worker did not run its jobs")
        let jobs = seen.withLock { $0 }
        XCTAssertEqual(jobs.map(\.index), Array(0..<count))
        XCTAssertEqual(Set(jobs.map(\.thread)).count, 1, "jobs ran on more than one thread")
        XCTAssertNotEqual(jobs.first?.thread, NetworkNamespace.currentThreadID)
        XCTAssertEqual(Set(jobs.map(\.niceness)), [7])
        XCTAssertEqual(ThreadPriority.currentThreadNiceness, 0, "the caller's priority changed")
    }

    /// Installs, provider messages and large varlink frames are worked on at bulk niceness.
    func testCulvertdsBulkWorkersRunAtBulkNiceness() {
        for (name, worker) in [
            ("install", OrderedJobs.installWorker), ("messages", OffQueue.messages), ("decode", VarlinkFrameDecoding.work),
        ] {
            let niceness = Mutex<Int32?>(nil)
            let finished = DispatchSemaphore(value: 0)
            worker.async {
                niceness.withLock { $0 = ThreadPriority.currentThreadNiceness }
                finished.signal()
            }
            XCTAssertEqual(finished.wait(timeout: .now() + 10), .success, name)
            XCTAssertEqual(niceness.withLock { $0 }, ThreadPriority.bulkNiceness, name)
        }
        let ioClass = Mutex<Int32?>(nil)
        let finished = DispatchSemaphore(value: 0)
        OrderedJobs.installWorker.async {
            ioClass.withLock { $0 = try? ThreadPriority.currentThreadIOClass() }  // try?: nil fails the assertion below
            finished.signal()
        }
        XCTAssertEqual(finished.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(ioClass.withLock { $0 }, 3, "the install worker's disk I/O is not in the idle class")
    }
}
