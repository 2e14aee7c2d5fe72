// Live extension upgrade (contract 9): a connected session of the test provider is handed over to
// a new version make-before-break while ping crosses the tunnel; broken new versions roll back to
// the old one; a provider without the handover capability is restarted with the session
// reasserting, never disconnected.

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class HandoverTests: XCTestCase {
    /// Longest a failed upgrade may take to roll back (the lab's start timeout is 3 s).
    static let rollbackBound: TimeInterval = 10

    func testHandoverKeepsTheTunnelUpAndSwitchesVersion() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let reply = try h.connect("lab")
        let oldPID = try XCTUnwrap(reply["session"]?["pid"]?.intValue)
        let interface = try XCTUnwrap(reply["session"]?["interface"]?.stringValue)
        let position = try h.control.call("io.culvert.Manager.Ping", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)

        // 80 pings 50 ms apart: the handover happens in the middle of them.
        let pingLog = h.directory.path + "/ping.log"
        let ping = try h.namespaces.spawn(
            in: h.namespaces.a, ["ping", "-n", "-c", "80", "-i", "0.05", "-W", "1", TunnelLab.tunnelAddressB], output: pingLog)
        defer { if ping.isRunning { ping.terminate() } }
        Thread.sleep(forTimeInterval: 1)
        let installed = try h.installTestProvider(version: "2.0.0", capabilities: [.handover])
        XCTAssertEqual(installed["result"]?.stringValue, "replaced")
        XCTAssertEqual(installed["extension"]?["version"]?.stringValue, "2.0.0")
        try waitForExit(ping, seconds: 20)
        let output = (try? String(contentsOfFile: pingLog, encoding: .utf8)) ?? ""  // absent: reported below
        let (sent, received) = Self.pingCounts(output)
        XCTAssertEqual(sent, 80, output)
        XCTAssertEqual(sent - received, 0, "pings lost during the handover:\n\(output)")

        let session = try XCTUnwrap(try h.session("lab"))
        XCTAssertEqual(session["state"]?.stringValue, "connected")
        XCTAssertEqual(session["extensionVersion"]?.stringValue, "2.0.0")
        XCTAssertEqual(session["interface"]?.stringValue, interface, "the same TUN")
        let newPID = try XCTUnwrap(session["pid"]?.intValue)
        XCTAssertNotEqual(newPID, oldPID)
        XCTAssertEqual(try message(h, "version"), "version=2.0.0 pid=\(newPID)")
        XCTAssertTrue(
            waitUntil(seconds: 5) { !FileManager.default.fileExists(atPath: "/proc/\(oldPID)") },
            "the old provider must exit: \((try? String(contentsOfFile: "/proc/\(oldPID)/status", encoding: .utf8)) ?? "")\n\(h.daemon.log)"
        )  // try?: gone
        let log = try h.sessionLog("lab").joined(separator: "\n")
        XCTAssertTrue(log.contains("took over"), log)

        let events = try h.daemon.eventsAfter(position)
        let kinds = events.compactMap { $0["kind"]?.stringValue }
        XCTAssertTrue(kinds.contains("handover_started"), "\(kinds)")
        let completed = try XCTUnwrap(events.first { $0["kind"]?.stringValue == "handover_completed" }, "\(kinds)")
        XCTAssertEqual(completed["previousVersion"]?.stringValue, "1.0.0 (1)")
        XCTAssertEqual(completed["extension"]?["version"]?.stringValue, "2.0.0")
        XCTAssertTrue(kinds.contains("extension_replaced"), "\(kinds)")
        let states = events.filter { $0["kind"]?.stringValue == "session_state" }.compactMap { $0["session"]?["state"]?.stringValue }
        XCTAssertEqual(states, [], "the session stays connected throughout")

        // Traffic still flows, and disconnecting takes everything away as usual.
        let after = try h.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(after.status, 0, after.output + after.error)
        let down = try h.disconnect("lab")
        XCTAssertEqual(down["session"]?["state"]?.stringValue, "disconnected")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/proc/\(newPID)"))
    }

    func testBrokenNewVersionsRollBackToTheRunningOne() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let reply = try h.connect("lab")
        let pid = try XCTUnwrap(reply["session"]?["pid"]?.intValue)
        let cases = [
            ("crash-at-start", "new_provider_exited"), ("import-fails", "import_failed"), ("import-hangs", "health_timeout"),
        ]
        // 50 pings a second across all three attempts: the tunnel must pass traffic throughout.
        let pingLog = h.directory.path + "/rollback-ping.log"
        let ping = try h.namespaces.spawn(
            in: h.namespaces.a, ["ping", "-n", "-c", "600", "-i", "0.02", "-W", "1", TunnelLab.behindPeer], output: pingLog)
        defer { if ping.isRunning { ping.terminate() } }
        for (behaviour, reason) in cases {
            let position = try h.control.call("io.culvert.Manager.Ping", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
            let started = Date()
            let error = TunnelLab.remoteError {
                try h.installTestProvider(version: "2.0.0", capabilities: [.handover], behaviour: behaviour)
            }
            let elapsed = Date().timeIntervalSince(started)
            XCTAssertEqual(error?.name, "io.culvert.Manager.UpgradeFailed", "\(behaviour): \(String(describing: error))")
            XCTAssertEqual(error?.parameters["reason"]?.stringValue, reason, behaviour)
            XCTAssertEqual(error?.parameters["installed"]?.stringValue, "1.0.0 (1)", behaviour)
            XCTAssertLessThan(elapsed, Self.rollbackBound, behaviour)

            let events = try h.daemon.eventsAfter(position)
            let failed = try XCTUnwrap(events.first { $0["kind"]?.stringValue == "upgrade_failed" }, behaviour)
            XCTAssertEqual(failed["reason"]?.stringValue, reason, behaviour)
            XCTAssertEqual(failed["previousVersion"]?.stringValue, "1.0.0 (1)", behaviour)
            XCTAssertEqual(failed["extension"]?["version"]?.stringValue, "2.0.0", behaviour)
            let lastLines = failed["log"]?.stringList ?? []
            XCTAssertTrue(lastLines.contains { $0.contains("started as uid") }, "\(behaviour): the new version's log: \(lastLines)")
            XCTAssertFalse(events.contains { $0["kind"]?.stringValue == "extension_replaced" }, behaviour)
            XCTAssertFalse(events.contains { $0["kind"]?.stringValue == "session_state" }, "\(behaviour): the session stays connected")

            let session = try XCTUnwrap(try h.session("lab"))
            XCTAssertEqual(session["state"]?.stringValue, "connected", behaviour)
            XCTAssertEqual(session["pid"]?.intValue, pid, behaviour)
            XCTAssertEqual(session["extensionVersion"]?.stringValue, "1.0.0", behaviour)
            let list = try h.control.call("io.culvert.Manager.ListExtensions", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
            guard case .array(let installed)? = list["extensions"] else { return XCTFail("ListExtensions without extensions") }
            XCTAssertEqual(installed.first?["version"]?.stringValue, "1.0.0", "\(behaviour): the old version stays installed")
            let store = try FileManager.default.contentsOfDirectory(atPath: h.daemon.stateDirectory + "/extensions/store")
            XCTAssertEqual(store.count, 1, "\(behaviour): the abandoned copy is removed, the running one kept: \(store)")
            XCTAssertEqual(try message(h, "version"), "version=1.0.0 pid=\(pid)", behaviour)
            let ping = try h.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
            XCTAssertEqual(ping.status, 0, "\(behaviour): " + ping.output + ping.error)
        }
        try waitForExit(ping, seconds: 30)
        let pingOutput = (try? String(contentsOfFile: pingLog, encoding: .utf8)) ?? ""  // absent: reported below
        let (sent, received) = Self.pingCounts(pingOutput)
        XCTAssertEqual(sent, 600, pingOutput)
        XCTAssertEqual(sent - received, 0, "pings lost while broken versions were tried:\n\(pingOutput.suffix(600))")
        // A good version still goes through afterwards.
        XCTAssertEqual(try h.installTestProvider(version: "2.0.1", capabilities: [.handover])["result"]?.stringValue, "replaced")
        XCTAssertEqual(try h.session("lab")?["extensionVersion"]?.stringValue, "2.0.1")
    }

    func testUpgradeWithoutHandoverReassertsInsteadOfDisconnecting() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let reply = try h.connect("lab")
        let oldPID = try XCTUnwrap(reply["session"]?["pid"]?.intValue)
        let position = try h.control.call("io.culvert.Manager.Ping", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        XCTAssertEqual(try h.installTestProvider(version: "2.0.0")["result"]?.stringValue, "replaced")

        let events = try h.daemon.eventsAfter(position)
        let transitions = events.filter { $0["kind"]?.stringValue == "session_state" }.map {
            "\($0["previousState"]?.stringValue ?? "?")→\($0["session"]?["state"]?.stringValue ?? "?") \($0["reason"]?.stringValue ?? "")"
        }
        XCTAssertEqual(transitions, ["connected→reasserting extension_upgrade", "reasserting→connected extension_upgraded"])
        let completed = try XCTUnwrap(events.first { $0["kind"]?.stringValue == "handover_completed" })
        XCTAssertEqual(completed["reason"]?.stringValue, "restart")
        let session = try XCTUnwrap(try h.session("lab"))
        XCTAssertEqual(session["state"]?.stringValue, "connected")
        XCTAssertEqual(session["extensionVersion"]?.stringValue, "2.0.0")
        let newPID = try XCTUnwrap(session["pid"]?.intValue)
        XCTAssertNotEqual(newPID, oldPID)
        XCTAssertEqual(try message(h, "version"), "version=2.0.0 pid=\(newPID)")
        let ping = try h.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error)
    }

    func testFailedRestartUpgradeStartsTheOldVersionAgain() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let reply = try h.connect("lab")
        let oldPID = try XCTUnwrap(reply["session"]?["pid"]?.intValue)
        let position = try h.control.call("io.culvert.Manager.Ping", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        let error = TunnelLab.remoteError { try h.installTestProvider(version: "2.0.0", behaviour: "crash-at-start") }
        XCTAssertEqual(error?.name, "io.culvert.Manager.UpgradeFailed", String(describing: error))
        XCTAssertEqual(error?.parameters["reason"]?.stringValue, "new_provider_exited")

        let events = try h.daemon.eventsAfter(position)
        let transitions = events.filter { $0["kind"]?.stringValue == "session_state" }.map {
            "\($0["previousState"]?.stringValue ?? "?")→\($0["session"]?["state"]?.stringValue ?? "?")"
        }
        XCTAssertEqual(transitions, ["connected→reasserting", "reasserting→connected"], "never disconnected")
        XCTAssertTrue(events.contains { $0["kind"]?.stringValue == "upgrade_failed" })
        let session = try XCTUnwrap(try h.session("lab"))
        XCTAssertEqual(session["state"]?.stringValue, "connected")
        XCTAssertEqual(session["extensionVersion"]?.stringValue, "1.0.0")
        let pid = try XCTUnwrap(session["pid"]?.intValue)
        XCTAssertNotEqual(pid, oldPID, "the old version was started again")
        XCTAssertEqual(try message(h, "version"), "version=1.0.0 pid=\(pid)")
        let ping = try h.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error)
    }

    func testAHandedOverProviderIsReadoptedAfterADaemonCrash() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24", "dns": "10.77.0.53"])
        let reply = try h.connect("lab")
        let sessionID = try XCTUnwrap(reply["session"]?["id"]?.stringValue)
        try h.installTestProvider(version: "2.0.0", capabilities: [.handover])
        let pid = try XCTUnwrap(try h.session("lab")?["pid"]?.intValue)
        let connected = try h.networkStateA()
        let resolvUp = try String(contentsOfFile: h.resolvConf, encoding: .utf8)

        h.daemon.crash()
        try h.daemon.start()
        let control = try h.daemon.connect()
        let status = try control.call("io.culvert.Manager.GetStatus", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        guard case .array(let sessions)? = status["status"]?["sessions"] else { return XCTFail("no sessions") }
        let session = try XCTUnwrap(sessions.first { $0["profile"]?.stringValue == "lab" })
        XCTAssertEqual(session["reason"]?.stringValue, "readopted")
        XCTAssertEqual(session["pid"]?.intValue, pid)
        XCTAssertEqual(session["id"]?.stringValue, sessionID, "the session keeps its id through the handover and the crash")
        XCTAssertEqual(session["extensionVersion"]?.stringValue, "2.0.0")
        XCTAssertEqual(session["dnsServers"]?.stringList, ["10.77.0.53"])
        try h.assertNetworkState(equals: connected, "nothing re-applied or removed")
        XCTAssertEqual(try String(contentsOfFile: h.resolvConf, encoding: .utf8), resolvUp, "the session's DNS is kept")
        let ping = try h.inA(["ping", "-c", "2", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error)
        _ = try control.call(
            "io.culvert.Manager.Disconnect", ["profile": .string("lab")], timeoutMilliseconds: TunnelLab.sessionCallMilliseconds)
    }

    func testDisconnectDuringAHandoverAbandonsItAndRemovesEverything() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let before = try h.networkStateA()
        try h.connect("lab")
        let result = LockedBox<VarlinkError?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            result.value = TunnelLab.remoteError {
                let installer = try h.daemon.connect()
                defer { installer.close() }
                return try h.installTestProvider(
                    version: "2.0.0", capabilities: [.handover], behaviour: "import-hangs", connection: installer)
            }
            done.signal()
        }
        // try?: polled until it answers.
        XCTAssertTrue(waitUntil(seconds: 5) { (try? h.sessionLog("lab"))?.contains { $0.contains("handover prepared") } == true })
        let down = try h.disconnect("lab")
        XCTAssertEqual(down["session"]?["state"]?.stringValue, "disconnected")
        try h.assertNetworkState(equals: before, "the new version's copy of the TUN went before the Disconnect reply")
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(result.value?.name, "io.culvert.Manager.UpgradeFailed", String(describing: result.value))
        XCTAssertEqual(result.value?.parameters["reason"]?.stringValue, "session_changed")
        let list = try h.control.call("io.culvert.Manager.ListExtensions", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        guard case .array(let installed)? = list["extensions"] else { return XCTFail("ListExtensions without extensions") }
        XCTAssertEqual(installed.first?["version"]?.stringValue, "1.0.0")
    }

    // MARK: helpers

    func testMessagesBeforeDuringAndAfterAnUpgradeAreAllAnswered() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        try h.connect("lab")
        // Another client sends a message every 10 ms on its own connection while the upgrade runs.
        final class Ledger: @unchecked Sendable {  // guarded by `lock`
            let lock = NSLock()
            var answers: [(Date, String)] = []
            var failures: [String] = []
            var stop = false
        }
        let ledger = Ledger()
        let socketPath = h.daemon.socketPath
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            // Its own connection, made on the thread that uses it.
            guard let sender = try? VarlinkClientConnection(path: socketPath) else {  // try?: recorded as a failure
                ledger.lock.withLock { ledger.failures.append("cannot connect") }
                done.signal()
                return
            }
            defer { done.signal() }
            for _ in 0..<3000 {  // bounded: 30 s at most
                if ledger.lock.withLock({ ledger.stop }) { return }
                do {
                    let reply = try sender.call(
                        "io.culvert.Manager.SendProviderMessage",
                        ["profile": .string("lab"), "data": .string(Data("version".utf8).base64EncodedString())],
                        timeoutMilliseconds: TunnelLab.callMilliseconds)
                    let text = String(decoding: reply["data"]?.stringValue.flatMap { Data(base64Encoded: $0) } ?? Data(), as: UTF8.self)
                    ledger.lock.withLock { ledger.answers.append((Date(), text)) }
                } catch {
                    ledger.lock.withLock { ledger.failures.append("\(error)") }
                }
                usleep(10_000)
            }
        }
        Thread.sleep(forTimeInterval: 0.3)
        let started = Date()
        try h.installTestProvider(version: "2.0.0", capabilities: [.handover])
        let finished = Date()
        Thread.sleep(forTimeInterval: 0.3)
        ledger.lock.withLock { ledger.stop = true }
        XCTAssertEqual(done.wait(timeout: .now() + 15), .success)
        let (answers, failures) = ledger.lock.withLock { (ledger.answers, ledger.failures) }
        XCTAssertEqual(failures, [], "every message is answered: none lost, none refused")
        XCTAssertTrue(answers.contains { $0.0 < started && $0.1.hasPrefix("version=1.0.0") }, "answered by v1 before")
        XCTAssertTrue(answers.contains { $0.0 > finished && $0.1.hasPrefix("version=2.0.0") }, "answered by v2 after")
        XCTAssertTrue(answers.contains { $0.0 >= started && $0.0 <= finished }, "answered during the upgrade")
        XCTAssertTrue(answers.allSatisfy { $0.1.hasPrefix("version=1.0.0") || $0.1.hasPrefix("version=2.0.0") }, "\(answers.map(\.1))")
    }

    func testAFailedUpgradeMovesBackTheSessionsThatAlreadyMoved() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("a", options: ["routes": "10.99.0.0/24"])
        try h.saveProfile("b", options: ["listen": "0.0.0.0:7002", "address": "10.78.0.1/24", "failImport": "yes"])
        let pidA = try XCTUnwrap(try h.connect("a")["session"]?["pid"]?.intValue)
        let pidB = try XCTUnwrap(try h.connect("b")["session"]?["pid"]?.intValue)
        // a moves to 2.0.0 first, then b's import fails: a must come back to 1.0.0.
        let error = TunnelLab.remoteError {
            try h.installTestProvider(version: "2.0.0", capabilities: [.handover], behaviour: "import-fails-if-asked")
        }
        XCTAssertEqual(error?.name, "io.culvert.Manager.UpgradeFailed", "\(String(describing: error))")
        XCTAssertEqual(error?.parameters["profile"]?.stringValue, "b")
        for (profile, pid) in [("a", pidA), ("b", pidB)] {
            let session = try XCTUnwrap(try h.session(profile), profile)
            XCTAssertEqual(session["state"]?.stringValue, "connected", profile)
            XCTAssertEqual(session["extensionVersion"]?.stringValue, "1.0.0", "\(profile) runs what the registry names")
            if profile == "b" { XCTAssertEqual(session["pid"]?.intValue, pid, "b never left its provider") }
        }
        XCTAssertNotEqual(try h.session("a")?["pid"]?.intValue, pidA, "a went to 2.0.0 and back: a third provider")
        let list = try h.control.call("io.culvert.Manager.ListExtensions", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        guard case .array(let installed)? = list["extensions"] else { return XCTFail(list.jsonString) }
        XCTAssertEqual(installed.first?["version"]?.stringValue, "1.0.0")
        let ping = try h.inA(["ping", "-c", "2", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error)
    }

    private func message(_ h: TunnelLab, _ text: String) throws -> String {
        let reply = try h.control.call(
            "io.culvert.Manager.SendProviderMessage",
            ["profile": .string("lab"), "data": .string(Data(text.utf8).base64EncodedString())],
            timeoutMilliseconds: TunnelLab.callMilliseconds)
        let data = reply["data"]?.stringValue.flatMap { Data(base64Encoded: $0) } ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    private func waitForExit(_ process: Process, seconds: TimeInterval) throws {
        XCTAssertTrue(waitUntil(seconds: seconds) { !process.isRunning }, "ping did not finish")
    }

    private func waitUntil(seconds: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// (transmitted, received) from ping's summary line.
    static func pingCounts(_ output: String) -> (Int, Int) {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("packets transmitted") }) else { return (0, 0) }
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        return (numbers.first ?? 0, numbers.dropFirst().first ?? 0)
    }
}

/// A value shared with a background thread (the test waits on a semaphore before reading it).
final class LockedBox<Value>: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
