// Upgrade policies (issue 16) with a connected session of the test provider: when a staged
// version switches and when it does not — ask (UpgradeExtension), cancel, on-disconnect (the next
// Connect runs it), when-idle (not while pings flow; after they stop) — the events in order, and
// the staged version kept through a re-exec and through culvertd's kill -9 and restart.

import CulvertCore
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class UpgradePolicyTests: XCTestCase {
    static let id = TunnelLab.extensionIdentifier
    /// Bound on waiting for something the daemon does by itself (a switch after a disconnect or
    /// an idle interval); never what is asserted.
    static let switchBound: TimeInterval = 30

    func testAskStagesUntilUpgradeExtension() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let pid = try XCTUnwrap(try h.connect("lab")["session"]?["pid"]?.intValue)
        let position = try ping(h.control)
        let set = try call(h.control, "SetUpgradePolicy", ["identifier": .string(Self.id), "policy": .string("ask")])
        XCTAssertEqual(set["changed"]?.boolValue, true)
        XCTAssertEqual(set["extension"]?["upgradePolicy"]?.stringValue, "ask")

        let staged = try h.installTestProvider(version: "2.0.0", capabilities: [.handover])
        XCTAssertEqual(staged["result"]?.stringValue, "staged")
        XCTAssertEqual(staged["extension"]?["state"]?.stringValue, "replacing")
        XCTAssertEqual(staged["extension"]?["version"]?.stringValue, "1.0.0", "the running version stays registered")
        XCTAssertEqual(staged["extension"]?["staged"]?["version"]?.stringValue, "2.0.0")
        let listed = try entry(h.control)
        XCTAssertEqual(listed["state"]?.stringValue, "replacing")
        XCTAssertEqual(listed["effectiveUpgradePolicy"]?.stringValue, "ask")
        XCTAssertEqual(listed["staged"]?["version"]?.stringValue, "2.0.0")
        let status = try call(h.control, "GetStatus", [:])
        guard case .array(let extensions)? = status["status"]?["extensions"] else { return XCTFail("GetStatus without extensions") }
        XCTAssertEqual(extensions.first?["staged"]?["version"]?.stringValue, "2.0.0", "status shows it too")
        XCTAssertEqual(try h.session("lab")?["pid"]?.intValue, pid, "nothing switched")
        XCTAssertEqual(try message(h.control, "version"), "version=1.0.0 pid=\(pid)")

        let upgraded = try call(h.control, "UpgradeExtension", ["identifier": .string(Self.id)], TunnelLab.sessionCallMilliseconds)
        XCTAssertEqual(upgraded["extension"]?["version"]?.stringValue, "2.0.0")
        XCTAssertEqual(upgraded["extension"]?["state"]?.stringValue, "enabled")
        XCTAssertNil(upgraded["extension"]?["staged"])
        XCTAssertEqual(upgraded["extension"]?["upgradePolicy"]?.stringValue, "ask", "the policy belongs to the extension")
        let session = try XCTUnwrap(try h.session("lab"))
        XCTAssertEqual(session["state"]?.stringValue, "connected")
        XCTAssertEqual(session["extensionVersion"]?.stringValue, "2.0.0")
        XCTAssertNotEqual(session["pid"]?.intValue, pid)

        XCTAssertEqual(
            try kinds(h, position),
            ["upgrade_policy_changed", "upgrade_pending", "handover_started", "handover_completed", "extension_replaced"])
        XCTAssertEqual(refusal { try self.call(h.control, "UpgradeExtension", ["identifier": .string(Self.id)]) }, "NoUpgradeStaged")
        XCTAssertEqual(refusal { try self.call(h.control, "CancelUpgrade", ["identifier": .string(Self.id)]) }, "NoUpgradeStaged")
        XCTAssertEqual(
            refusal { try self.call(h.control, "UpgradeExtension", ["identifier": .string("io.culvert.none")]) }, "ExtensionNotFound")
        XCTAssertEqual(
            refusal { try self.call(h.control, "SetUpgradePolicy", ["identifier": .string(Self.id), "policy": .string("later")]) },
            "InvalidUpgradePolicy")
    }

    /// policy.json is read at each install: a default written while culvertd runs decides the next one.
    func testAPolicyFileDefaultWrittenWhileRunningDecidesTheNextInstall() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        try h.connect("lab")
        let file = h.daemon.configDirectory + "/policy.json"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data(#"{"defaultUpgradePolicy": "ask"}"#.utf8)))
        let staged = try h.installTestProvider(version: "2.0.0", capabilities: [.handover])
        XCTAssertEqual(staged["result"]?.stringValue, "staged", "\(staged)")
        XCTAssertEqual(staged["extension"]?["effectiveUpgradePolicy"]?.stringValue, "ask")
    }

    func testCancelDropsTheStagedVersionAndASecondInstallReplacesIt() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let pid = try XCTUnwrap(try h.connect("lab")["session"]?["pid"]?.intValue)
        _ = try call(h.control, "SetUpgradePolicy", ["identifier": .string(Self.id), "policy": .string("ask")])
        let position = try ping(h.control)
        XCTAssertEqual(try h.installTestProvider(version: "2.0.0")["result"]?.stringValue, "staged")
        XCTAssertEqual(try h.installTestProvider(version: "3.0.0")["extension"]?["staged"]?["version"]?.stringValue, "3.0.0")
        // A dry run queues behind the removal of the copy 3.0.0 replaced, and reports nothing to remove.
        guard case .array(let none)? = try call(h.control, "CollectGarbage", ["dryRun": .bool(true)])["removals"] else {
            return XCTFail("no removals")
        }
        XCTAssertEqual(none.count, 0, "the staged copy is referenced: \(none)")
        XCTAssertEqual(try storeCopies(h), 2, "the running copy and 3.0.0; 2.0.0's copy is gone")

        let cancelled = try call(h.control, "CancelUpgrade", ["identifier": .string(Self.id)])
        XCTAssertEqual(cancelled["extension"]?["state"]?.stringValue, "enabled")
        XCTAssertEqual(cancelled["extension"]?["version"]?.stringValue, "1.0.0")
        XCTAssertNil(cancelled["extension"]?["staged"])
        XCTAssertEqual(try kinds(h, position), ["upgrade_pending", "upgrade_pending", "upgrade_cancelled"])
        let events = try h.daemon.eventsAfter(position)
        XCTAssertEqual(events.last?["previousVersion"]?.stringValue, "3.0.0 (1)", "the dropped version")
        XCTAssertEqual(events.last?["reason"]?.stringValue, "cancelled")
        XCTAssertEqual(try h.session("lab")?["pid"]?.intValue, pid)
        XCTAssertEqual(try message(h.control, "version"), "version=1.0.0 pid=\(pid)")
        XCTAssertEqual(try storeCopies(h), 2, "the dropped copy is left for gc")
        let gc = try call(h.control, "CollectGarbage", [:])
        guard case .array(let removals)? = gc["removals"] else { return XCTFail("no removals") }
        XCTAssertEqual(removals.count, 1, "\(removals)")
        XCTAssertEqual(try storeCopies(h), 1)
    }

    func testOnDisconnectSwitchesWhenTheSessionEndsAndTheNextConnectRunsIt() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let pid = try XCTUnwrap(try h.connect("lab")["session"]?["pid"]?.intValue)
        _ = try call(h.control, "SetUpgradePolicy", ["identifier": .string(Self.id), "policy": .string("on-disconnect")])
        let position = try ping(h.control)
        XCTAssertEqual(try h.installTestProvider(version: "2.0.0", capabilities: [.handover])["result"]?.stringValue, "staged")
        // Connected (idle or not): no switch.
        let during = try h.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(during.status, 0, during.output + during.error)
        XCTAssertEqual(try entry(h.control)["state"]?.stringValue, "replacing")
        XCTAssertEqual(try message(h.control, "version"), "version=1.0.0 pid=\(pid)")

        // Connect right after the disconnect, without waiting for the switch: it starts 2.0.0.
        _ = try h.disconnect("lab")
        let reply = try h.connect("lab")
        XCTAssertEqual(reply["session"]?["extensionVersion"]?.stringValue, "2.0.0")
        XCTAssertTrue(try message(h.control, "version").hasPrefix("version=2.0.0"))
        XCTAssertEqual(try entry(h.control)["state"]?.stringValue, "enabled")
        let events = try h.daemon.eventsAfter(position)
        let replaced = try XCTUnwrap(events.first { $0["kind"]?.stringValue == "extension_replaced" })
        XCTAssertEqual(replaced["extension"]?["version"]?.stringValue, "2.0.0")
        let order = events.compactMap { event -> String? in
            guard let kind = event["kind"]?.stringValue else { return nil }
            return kind == "session_state" ? "session_state:" + (event["session"]?["state"]?.stringValue ?? "") : kind
        }
        XCTAssertEqual(
            order,
            [
                "upgrade_pending", "session_state:disconnecting", "session_state:disconnected", "extension_replaced",
                "session_state:connecting", "session_state:connected",
            ],
            "no live upgrade: the session had ended, and the next one starts the new version")
    }

    func testWhenIdleWaitsForTheTrafficToStop() throws {
        let h = try TunnelLab(test: self, daemonArguments: ["--upgrade-idle-interval", "1"])
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let pid = try XCTUnwrap(try h.connect("lab")["session"]?["pid"]?.intValue)
        _ = try call(h.control, "SetUpgradePolicy", ["identifier": .string(Self.id), "policy": .string("when-idle")])
        let position = try ping(h.control)
        // 5 pings a second for 6 s: never a quiet second.
        let pingLog = h.directory.path + "/idle-ping.log"
        let pings = try h.namespaces.spawn(
            in: h.namespaces.a, ["ping", "-n", "-c", "30", "-i", "0.2", "-W", "1", TunnelLab.behindPeer], output: pingLog)
        defer { if pings.isRunning { pings.terminate() } }
        XCTAssertEqual(try h.installTestProvider(version: "2.0.0", capabilities: [.handover])["result"]?.stringValue, "staged")
        while pings.isRunning {
            XCTAssertEqual(try entry(h.control)["state"]?.stringValue, "replacing", "switched while pings flowed")
            XCTAssertEqual(try h.session("lab")?["pid"]?.intValue, pid)
            Thread.sleep(forTimeInterval: 0.5)
        }
        let output = (try? String(contentsOfFile: pingLog, encoding: .utf8)) ?? ""  // absent: reported below
        XCTAssertTrue(output.contains("30 received"), "every ping crossed the tunnel:\n\(output)")

        let replaced = try waitForEvent(h.daemon, after: position, kind: "extension_replaced")
        XCTAssertEqual(replaced["extension"]?["version"]?.stringValue, "2.0.0")
        let session = try XCTUnwrap(try h.session("lab"))
        XCTAssertEqual(session["state"]?.stringValue, "connected", "a live switch, the session stays up")
        XCTAssertEqual(session["extensionVersion"]?.stringValue, "2.0.0")
        XCTAssertEqual(try kinds(h, position), ["upgrade_pending", "handover_started", "handover_completed", "extension_replaced"])
        let after = try h.inA(["ping", "-c", "2", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(after.status, 0, after.output + after.error)
    }

    func testTheStagedVersionSurvivesReexecAndCrash() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let pid = try XCTUnwrap(try h.connect("lab")["session"]?["pid"]?.intValue)
        _ = try call(h.control, "SetUpgradePolicy", ["identifier": .string(Self.id), "policy": .string("ask")])
        XCTAssertEqual(try h.installTestProvider(version: "2.0.0", capabilities: [.handover])["result"]?.stringValue, "staged")

        _ = try call(h.control, "Reexec", [:])
        var listed = try entry(h.control)
        XCTAssertEqual(listed["state"]?.stringValue, "replacing", "after a re-exec")
        XCTAssertEqual(listed["staged"]?["version"]?.stringValue, "2.0.0")
        XCTAssertEqual(try h.session("lab")?["pid"]?.intValue, pid)

        h.daemon.crash()
        try h.daemon.start()
        let control = try h.daemon.connect()
        listed = try entry(control)
        XCTAssertEqual(listed["state"]?.stringValue, "replacing", "after kill -9 and a restart")
        XCTAssertEqual(listed["staged"]?["version"]?.stringValue, "2.0.0")
        XCTAssertEqual(listed["upgradePolicy"]?.stringValue, "ask")
        XCTAssertEqual(try message(control, "version"), "version=1.0.0 pid=\(pid)", "re-adopted, not switched")

        // Policy on-disconnect now: the session still runs, so nothing happens until it ends;
        // then it applies, and survives another crash as the installed version.
        let position = try ping(control)
        _ = try call(control, "SetUpgradePolicy", ["identifier": .string(Self.id), "policy": .string("on-disconnect")])
        XCTAssertEqual(try entry(control)["state"]?.stringValue, "replacing")
        _ = try call(control, "Disconnect", ["profile": .string("lab")], TunnelLab.sessionCallMilliseconds)
        _ = try waitForEvent(h.daemon, after: position, kind: "extension_replaced")
        h.daemon.crash()
        try h.daemon.start()
        let again = try h.daemon.connect()
        XCTAssertEqual(try entry(again)["version"]?.stringValue, "2.0.0")
        XCTAssertEqual(try entry(again)["state"]?.stringValue, "enabled")
    }

    func testAFailedSwitchKeepsTheRunningVersionAndDropsTheStagedOne() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let pid = try XCTUnwrap(try h.connect("lab")["session"]?["pid"]?.intValue)
        _ = try call(h.control, "SetUpgradePolicy", ["identifier": .string(Self.id), "policy": .string("ask")])
        let position = try ping(h.control)
        let staged = try h.installTestProvider(version: "2.0.0", capabilities: [.handover], behaviour: "crash-at-start")
        XCTAssertEqual(staged["result"]?.stringValue, "staged")
        let error = TunnelLab.remoteError {
            try self.call(h.control, "UpgradeExtension", ["identifier": .string(Self.id)], TunnelLab.sessionCallMilliseconds)
        }
        XCTAssertEqual(error?.name, "io.culvert.Manager.UpgradeFailed", "\(String(describing: error))")
        XCTAssertEqual(error?.parameters["reason"]?.stringValue, "new_provider_exited")
        let listed = try entry(h.control)
        XCTAssertEqual(listed["state"]?.stringValue, "enabled")
        XCTAssertEqual(listed["version"]?.stringValue, "1.0.0")
        XCTAssertNil(listed["staged"], "a version that failed is not tried again by itself")
        XCTAssertEqual(try message(h.control, "version"), "version=1.0.0 pid=\(pid)")
        let events = try h.daemon.eventsAfter(position)
        XCTAssertEqual(
            events.compactMap { $0["kind"]?.stringValue }, ["upgrade_pending", "handover_started", "upgrade_failed", "upgrade_cancelled"])
        XCTAssertEqual(events.last?["reason"]?.stringValue, "upgrade_failed")
    }

    func testAStartWithNoSessionAppliesAnOnDisconnectUpgradeBeforeAlwaysOnProfilesStart() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"], alwaysOn: true)
        _ = try h.connect("lab")
        _ = try call(h.control, "SetUpgradePolicy", ["identifier": .string(Self.id), "policy": .string("on-disconnect")])
        XCTAssertEqual(try h.installTestProvider(version: "2.0.0")["result"]?.stringValue, "staged")
        XCTAssertEqual(h.daemon.stop(), 0, "an orderly stop ends the session")
        try h.daemon.start()
        let control = try h.daemon.connect()
        let listed = try entry(control)
        XCTAssertEqual(listed["version"]?.stringValue, "2.0.0", "applied at start: no session ran it")
        XCTAssertEqual(listed["state"]?.stringValue, "enabled")
        let session = try XCTUnwrap(
            try waitForSession(control) { $0["state"]?.stringValue == "connected" }, "the alwaysOn profile comes up")
        XCTAssertEqual(session["extensionVersion"]?.stringValue, "2.0.0", "and starts the new version")
    }

    // MARK: helpers

    /// The session of "lab" once `predicate` holds (bounded by `switchBound`), else the last one seen.
    private func waitForSession(_ connection: VarlinkClientConnection, _ predicate: (JSONValue) -> Bool) throws -> JSONValue? {
        let deadline = Date().addingTimeInterval(Self.switchBound)
        var last: JSONValue?
        repeat {
            guard case .array(let sessions)? = try call(connection, "GetStatus", [:])["status"]?["sessions"] else { return nil }
            last = sessions.first { $0["profile"]?.stringValue == "lab" }
            if let session = last, predicate(session) { return session }
            Thread.sleep(forTimeInterval: 0.1)
        } while Date() < deadline
        return last
    }

    private func call(
        _ connection: VarlinkClientConnection, _ method: String, _ parameters: JSONValue,
        _ milliseconds: Int32 = TunnelLab.callMilliseconds
    ) throws -> JSONValue {
        try connection.call("io.culvert.Manager." + method, parameters, timeoutMilliseconds: milliseconds)
    }

    private func ping(_ connection: VarlinkClientConnection) throws -> JSONValue { try call(connection, "Ping", [:]) }

    /// The test provider's entry in ListExtensions.
    private func entry(_ connection: VarlinkClientConnection) throws -> JSONValue {
        guard case .array(let extensions)? = try call(connection, "ListExtensions", [:])["extensions"] else {
            throw VarlinkError("test", ["description": .string("ListExtensions without extensions")])
        }
        return try XCTUnwrap(extensions.first { $0["identifier"]?.stringValue == Self.id })
    }

    /// The unqualified name of the error a call must fail with.
    private func refusal(_ body: () throws -> JSONValue) -> String? {
        TunnelLab.remoteError(body).map { String($0.name.split(separator: ".").last ?? "") }
    }

    private func message(_ connection: VarlinkClientConnection, _ text: String) throws -> String {
        let reply = try call(
            connection, "SendProviderMessage", ["profile": .string("lab"), "data": .string(Data(text.utf8).base64EncodedString())])
        return String(decoding: reply["data"]?.stringValue.flatMap { Data(base64Encoded: $0) } ?? Data(), as: UTF8.self)
    }

    private func storeCopies(_ h: TunnelLab) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: h.daemon.stateDirectory + "/extensions/store").count
    }

    /// The kinds of the events after `position`, without session_stats.
    private func kinds(_ h: TunnelLab, _ position: JSONValue) throws -> [String] {
        try h.daemon.eventsAfter(position).compactMap { $0["kind"]?.stringValue }
    }

    /// The first event of `kind` after `position`, waiting for it on a Watch (bounded by `switchBound`).
    private func waitForEvent(_ daemon: DaemonProcess, after position: JSONValue, kind: String) throws -> JSONValue {
        let watcher = try daemon.connect()
        defer { watcher.close() }
        try watcher.startWatch(since: position["seq"]?.intValue, epoch: position["epoch"]?.stringValue)
        let deadline = Date().addingTimeInterval(Self.switchBound)
        while Date() < deadline {
            // try?: a quiet second is not the end; the deadline is.
            guard let reply = try? watcher.receive(timeoutMilliseconds: 1000) else { continue }
            XCTAssertNil(reply.error, "\(String(describing: reply.error))")
            if let event = reply.parameters["event"], event["kind"]?.stringValue == kind { return event }
        }
        XCTFail("no \(kind) event within \(Self.switchBound) s:\n\(daemon.log.suffix(3000))")
        throw VarlinkError("test", ["description": .string("no \(kind)")])
    }
}
