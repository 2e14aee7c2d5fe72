// The sequenced status channel (contract 3): replay, snapshot, exactly once and in order.

import CulvertSystem
import CulvertTesting
import CulvertVarlink
import XCTest

final class EventStreamTests: XCTestCase {
    func testResumeReplaysExactlyTheMissedEvents() throws {
        let daemon = try startDaemon(self)
        let control = try daemon.connect()
        let watcher = try daemon.connect()
        try watcher.startWatch()
        let snapshot = try watcher.nextEvent()
        XCTAssertEqual(snapshot["kind"], "snapshot")
        XCTAssertEqual(snapshot["reason"], "no_position")
        let epoch = try XCTUnwrap(snapshot["epoch"]?.stringValue)
        var last = try XCTUnwrap(snapshot["seq"]?.intValue)

        // k events seen live.
        for i in 0..<5 {
            try control.saveProfile("seen-\(i)")
            let event = try watcher.nextEvent()
            XCTAssertEqual(event["seq"]?.intValue, last + 1)
            XCTAssertEqual(event["kind"], "profile_saved")
            last += 1
        }
        watcher.close()

        // m events while disconnected.
        for i in 0..<7 { try control.saveProfile("missed-\(i)") }
        _ = try control.call("io.culvert.Manager.RemoveProfile", ["name": "seen-0"])

        let resumed = try daemon.connect()
        try resumed.startWatch(since: last, epoch: epoch)
        var received: [Int64] = []
        for _ in 0..<8 { received.append(try XCTUnwrap(try resumed.nextEvent()["seq"]?.intValue)) }
        XCTAssertEqual(received, Array((last + 1)...(last + 8)))

        // Then live events, continuing the sequence with nothing in between.
        try control.saveProfile("live")
        let live = try resumed.nextEvent()
        XCTAssertEqual(live["seq"]?.intValue, last + 9)
        XCTAssertEqual(live["profile"]?["name"], "live")
        // Nothing else is pending: no duplicate slipped in.
        XCTAssertThrowsError(try resumed.receive(timeoutMilliseconds: 200)) { error in
            XCTAssertEqual(error as? VarlinkClientError, .timedOut)
        }
    }

    func testUnknownEpochYieldsOneSnapshotThenLiveEvents() throws {
        let daemon = try startDaemon(self)
        let control = try daemon.connect()
        try control.saveProfile("a")
        let watcher = try daemon.connect()
        try watcher.startWatch(since: 1, epoch: "00000000000000000000000000000000")
        let snapshot = try watcher.nextEvent()
        XCTAssertEqual(snapshot["kind"], "snapshot")
        XCTAssertEqual(snapshot["reason"], "other_epoch")
        XCTAssertEqual(snapshot["status"]?["profiles"]?.arrayValue?.count, 1)
        let seq = try XCTUnwrap(snapshot["seq"]?.intValue)
        try control.saveProfile("b")
        XCTAssertEqual(try watcher.nextEvent()["seq"]?.intValue, seq + 1)
    }

    func testPositionOlderThanTheRingYieldsSnapshot() throws {
        let daemon = try startDaemon(self, arguments: ["--event-buffer", "4"])
        let control = try daemon.connect()
        let epoch = try XCTUnwrap(try control.call("io.culvert.Manager.Ping")["epoch"]?.stringValue)
        for i in 0..<10 { try control.saveProfile("p\(i)") }  // seq 2...11; ring holds 8...11
        let servable = try daemon.connect()
        try servable.startWatch(since: 7, epoch: epoch)
        XCTAssertEqual(try servable.nextEvent()["seq"]?.intValue, 8)

        let tooOld = try daemon.connect()
        try tooOld.startWatch(since: 6, epoch: epoch)
        let snapshot = try tooOld.nextEvent()
        XCTAssertEqual(snapshot["kind"], "snapshot")
        XCTAssertEqual(snapshot["reason"], "too_old")
        XCTAssertEqual(snapshot["seq"]?.intValue, 11)

        let ahead = try daemon.connect()
        try ahead.startWatch(since: 99, epoch: epoch)
        XCTAssertEqual(try ahead.nextEvent()["reason"], "ahead")
    }

    func testWatchWithoutMoreIsRefused() throws {
        let daemon = try startDaemon(self)
        let connection = try daemon.connect()
        XCTAssertThrowsError(try connection.call("io.culvert.Manager.Watch")) { error in
            XCTAssertEqual((error as? VarlinkClientError), .remote(.expectedMore))
        }
    }

    func testEveryEventReachesEveryWatcherInOrder() throws {
        let daemon = try startDaemon(self)
        let control = try daemon.connect()
        var watchers: [VarlinkClientConnection] = []
        var starts: [Int64] = []
        for _ in 0..<10 {
            let watcher = try daemon.connect()
            try watcher.startWatch()
            starts.append(try XCTUnwrap(try watcher.nextEvent()["seq"]?.intValue))
            watchers.append(watcher)
        }
        for i in 0..<50 { try control.saveProfile("n\(i % 7)", options: ["i": "\(i)"]) }
        for (watcher, start) in zip(watchers, starts) {
            for expected in (start + 1)...(start + 50) {
                XCTAssertEqual(try watcher.nextEvent()["seq"]?.intValue, expected)
            }
        }
    }

    func testProfileSecretsAreNeverReturned() throws {
        let daemon = try startDaemon(self)
        let control = try daemon.connect()
        let reply = try control.call(
            "io.culvert.Manager.SaveProfile",
            ["profile": ["name": "vpn", "extension": "io.culvert.test", "secrets": ["privateKey": "TOP-SECRET-VALUE"]]])
        XCTAssertEqual(reply["profile"]?["secretNames"], ["privateKey"])
        let status = try control.call("io.culvert.Manager.GetStatus")
        XCTAssertFalse(status.jsonString.contains("TOP-SECRET-VALUE"))
        let watcher = try daemon.connect()
        try watcher.startWatch()
        XCTAssertFalse(try watcher.nextEvent().jsonString.contains("TOP-SECRET-VALUE"))
        // Stored 0600 by the daemon, in a 0700 directory.
        XCTAssertEqual(FileSystem.mode(of: daemon.stateDirectory + "/profiles/vpn.json"), 0o600)
        XCTAssertEqual(FileSystem.mode(of: daemon.stateDirectory + "/profiles"), 0o700)
        // Saving without `secrets` keeps them; `{}` clears them.
        XCTAssertEqual(try control.saveProfile("vpn")["profile"]?["secretNames"], ["privateKey"])
        let cleared = try control.call(
            "io.culvert.Manager.SaveProfile", ["profile": ["name": "vpn", "extension": "io.culvert.test", "secrets": [:]]])
        XCTAssertEqual(cleared["profile"]?["secretNames"], [])
    }

    func testInvalidProfilesAreRefusedWithTypedErrors() throws {
        let daemon = try startDaemon(self)
        let control = try daemon.connect()
        let cases: [(JSONValue, String, String)] = [
            (["name": "", "extension": "io.culvert.test"], "name", "empty"),
            (["name": "../etc", "extension": "io.culvert.test"], "name", "invalid_characters"),
            (["name": ".hidden", "extension": "io.culvert.test"], "name", "invalid_characters"),
            (["name": .string(String(repeating: "x", count: 65)), "extension": "io.culvert.test"], "name", "too_long"),
            (["name": "ok", "extension": "nodots"], "extension", "invalid_characters"),
            (["name": "ok", "extension": ""], "extension", "empty"),
        ]
        for (profile, field, reason) in cases {
            XCTAssertThrowsError(try control.call("io.culvert.Manager.SaveProfile", ["profile": profile])) { error in
                XCTAssertEqual(
                    error as? VarlinkClientError,
                    .remote(VarlinkError("io.culvert.Manager.InvalidProfile", ["field": .string(field), "reason": .string(reason)])),
                    "\(profile.jsonString)")
            }
        }
        XCTAssertThrowsError(try control.call("io.culvert.Manager.RemoveProfile", ["name": "absent"])) { error in
            XCTAssertEqual(error as? VarlinkClientError, .remote(VarlinkError("io.culvert.Manager.ProfileNotFound", ["name": "absent"])))
        }
        let status = try control.call("io.culvert.Manager.GetStatus")
        XCTAssertEqual(status["status"]?["profiles"], [])
        XCTAssertEqual(status["status"]?["seq"], 1, "refused calls must not produce events")
    }
}

final class ConnectionLimitTests: XCTestCase {
    func testPerUserAndTotalConnectionLimits() throws {
        let daemon = try startDaemon(self, arguments: ["--max-connections-per-user", "4", "--max-connections", "6"])
        var open: [VarlinkClientConnection] = []
        for _ in 0..<4 {
            let connection = try daemon.connect()
            XCTAssertNotNil(try connection.call("io.culvert.Manager.Ping")["seq"])
            open.append(connection)
        }
        // The fifth from the same uid is refused with a typed error, then closed.
        let refused = try daemon.connect()
        let reply = try refused.receive(timeoutMilliseconds: replyTimeoutMilliseconds)
        XCTAssertEqual(reply.error, "io.culvert.Varlink.TooManyConnections")
        XCTAssertEqual(reply.parameters["limit"], 4)
        XCTAssertThrowsError(try refused.receive(timeoutMilliseconds: replyTimeoutMilliseconds)) { error in
            XCTAssertEqual(error as? VarlinkClientError, .disconnected)
        }
        // Everyone admitted keeps working, and closing one frees its place.
        for connection in open { XCTAssertNotNil(try connection.call("io.culvert.Manager.Ping")["seq"]) }
        open.removeFirst().close()
        var admitted: VarlinkClientConnection?
        for _ in 0..<100 where admitted == nil {
            let attempt = try daemon.connect()
            if (try? attempt.call("io.culvert.Manager.Ping", timeoutMilliseconds: 2000)) != nil {
                admitted = attempt
            } else {
                usleep(10_000)
            }  // the close may not be processed yet
        }
        XCTAssertNotNil(admitted, "a closed connection's place was not freed")
    }
}
