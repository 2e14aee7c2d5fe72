// DaemonProcess+Events: the events a daemon logged after a position, replayed by a fresh Watch —
// one copy of the helper the handover, offload and upgrade-policy tests each carried.

import CulvertTesting
import CulvertVarlink
import XCTest

extension DaemonProcess {
    /// Most events one replay reads before it stops.
    static let replayedEventLimit = 1000
    /// A replay that stays quiet this long has ended.
    static let replayQuietMilliseconds: Int32 = 500

    /// The events after `position` (a Ping reply), replayed by a fresh Watch until it goes quiet.
    /// session_stats events are left out unless `keepingStats`; with `requireReplay` a snapshot
    /// (the position was no longer replayable) fails the test.
    func eventsAfter(
        _ position: JSONValue, keepingStats: Bool = false, requireReplay: Bool = true, file: StaticString = #filePath, line: UInt = #line
    ) throws -> [JSONValue] {
        let watcher = try connect()
        defer { watcher.close() }
        try watcher.startWatch(since: position["seq"]?.intValue, epoch: position["epoch"]?.stringValue)
        var events: [JSONValue] = []
        for _ in 0..<Self.replayedEventLimit {
            // try?: a timeout means the stream went quiet.
            guard let reply = try? watcher.receive(timeoutMilliseconds: Self.replayQuietMilliseconds), reply.error == nil,
                let event = reply.parameters["event"]
            else { break }
            if requireReplay {
                XCTAssertNotEqual(event["kind"]?.stringValue, "snapshot", "the events must be replayed", file: file, line: line)
            }
            if keepingStats || event["kind"]?.stringValue != "session_stats" { events.append(event) }
        }
        return events
    }
}
