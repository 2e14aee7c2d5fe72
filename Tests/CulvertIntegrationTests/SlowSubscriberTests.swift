// A subscriber that stops reading is dropped with a typed error and never slows anyone else.

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

/// Results handed back from reader threads.
private final class ReaderResults: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var values: [Int: (count: Int, problems: [String])] = [:]
    func set(_ index: Int, count: Int, problems: [String]) {
        lock.lock()
        values[index] = (count, problems)
        lock.unlock()
    }
    func get(_ index: Int) -> (count: Int, problems: [String])? {
        lock.lock()
        defer { lock.unlock() }
        return values[index]
    }
}

final class SlowSubscriberTests: XCTestCase {
    static let eventCount = 100_000
    static let readerCount = 3
    /// Calls in flight on the producer connection: enough to keep the daemon busy, few enough
    /// that the producer's own replies never approach the queued-output limit.
    static let pipelineWindow = 200
    /// Daemon RSS may grow at most this much over its idle baseline while events flow.
    static let residentBoundKilobytes = 48 * 1024

    func testNonReadingSubscriberIsDroppedWhileReadersGetEverything() throws {
        // tmpfs: this test is about the event path, not about fsync latency.
        let daemon = try startDaemon(self, base: "/dev/shm")
        let control = try daemon.connect()
        _ = try control.call("io.culvert.Manager.GetStatus")
        let baseline = daemon.residentKilobytes

        let stalled = try daemon.connect()
        try stalled.startWatch()

        let socket = daemon.socketPath
        let results = ReaderResults()
        let ready = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for index in 0..<Self.readerCount {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                var problems: [String] = []
                var count = 0
                do {
                    let connection = try VarlinkClientConnection(path: socket)
                    try connection.startWatch()
                    let first = try connection.receive(timeoutMilliseconds: replyTimeoutMilliseconds)
                    var last = first.parameters["event"]?["seq"]?.intValue ?? -1
                    ready.signal()
                    while count < Self.eventCount {
                        let reply = try connection.receive(timeoutMilliseconds: 60_000)
                        if let error = reply.error {
                            problems.append("error \(error)")
                            break
                        }
                        let seq = reply.parameters["event"]?["seq"]?.intValue ?? -1
                        if seq != last + 1 { problems.append("seq \(seq) after \(last)") }
                        last = seq
                        count += 1
                    }
                } catch {
                    problems.append("\(error)")
                    ready.signal()
                }
                results.set(index, count: count, problems: problems)
            }
            thread.start()
        }
        for _ in 0..<Self.readerCount { XCTAssertEqual(ready.wait(timeout: .now() + 30), .success) }

        // Produce the events: alternate saves across 100 profile names, pipelined.
        var produced = 0
        var peakResident = baseline
        while produced < Self.eventCount {
            let batch = min(Self.pipelineWindow, Self.eventCount - produced)
            var bytes: [UInt8] = []
            for i in produced..<(produced + batch) {
                bytes += VarlinkCallMessage(
                    method: "io.culvert.Manager.SaveProfile",
                    parameters: [
                        "profile": ["name": .string("p\(i % 100)"), "extension": "io.culvert.test", "options": ["i": .string("\(i)")]]
                    ]
                ).encoded()
            }
            try control.sendRaw(bytes)
            for _ in 0..<batch {
                let reply = try control.receive(timeoutMilliseconds: replyTimeoutMilliseconds)
                XCTAssertNil(reply.error)
            }
            produced += batch
            if produced % 5000 == 0 { peakResident = max(peakResident, daemon.residentKilobytes) }
        }

        XCTAssertEqual(done.wait(timeout: .now() + 120), .success, "readers did not finish")
        for index in 0..<Self.readerCount {
            let result = try XCTUnwrap(results.get(index))
            XCTAssertEqual(result.count, Self.eventCount, "reader \(index)")
            XCTAssertEqual(result.problems, [], "reader \(index)")
        }
        print("slow subscriber: daemon RSS baseline \(baseline) KiB, peak \(peakResident) KiB over \(Self.eventCount) events")
        XCTAssertLessThanOrEqual(peakResident, baseline + Self.residentBoundKilobytes)
        XCTAssertTrue(daemon.log.contains("stopped reading"), "the daemon should log the dropped subscriber")

        // The stalled subscriber got some events, then was disconnected (its error frame was
        // dropped with it after the grace period: it never read).
        var stalledEvents = 0
        var ending = ""
        while ending.isEmpty {
            do {
                let reply = try stalled.receive(timeoutMilliseconds: replyTimeoutMilliseconds)
                if let error = reply.error { ending = error } else { stalledEvents += 1 }
            } catch VarlinkClientError.disconnected {
                ending = "disconnected"
            }
        }
        XCTAssertLessThan(stalledEvents, Self.eventCount)
        XCTAssertTrue(ending == "disconnected" || ending == "io.culvert.Manager.SubscriberTooSlow", ending)
    }

    func testSlowSubscriberThatReadsLateGetsTheTypedError() throws {
        let daemon = try startDaemon(self, arguments: ["--max-queued-output", "65536"], base: "/dev/shm")
        let control = try daemon.connect()
        let stalled = try daemon.connect()
        try stalled.startWatch()
        // Enough events to pass kernel buffers plus 64 KiB, well within the grace period.
        var produced = 0
        while !daemon.log.contains("stopped reading") && produced < 20_000 {
            try control.saveProfile("p\(produced % 10)", options: ["padding": String(repeating: "x", count: 500)])
            produced += 1
        }
        XCTAssertTrue(daemon.log.contains("stopped reading"), "not dropped after \(produced) events")
        var events = 0
        var lastSeq: Int64 = -1
        var ending: VarlinkReplyMessage?
        while ending == nil {
            let reply = try stalled.receive(timeoutMilliseconds: replyTimeoutMilliseconds)
            if reply.error != nil {
                ending = reply
            } else {
                let seq = try XCTUnwrap(reply.parameters["event"]?["seq"]?.intValue)
                if lastSeq >= 0 { XCTAssertEqual(seq, lastSeq + 1) }
                lastSeq = seq
                events += 1
            }
        }
        XCTAssertEqual(ending?.error, "io.culvert.Manager.SubscriberTooSlow")
        XCTAssertEqual(ending?.parameters["limit"], 65536)
        XCTAssertLessThan(events, produced + 1)
        XCTAssertThrowsError(try stalled.receive(timeoutMilliseconds: replyTimeoutMilliseconds)) { error in
            XCTAssertEqual(error as? VarlinkClientError, .disconnected)
        }
        // Everyone else is unaffected.
        XCTAssertNotNil(try control.call("io.culvert.Manager.Ping")["seq"])
    }
}
