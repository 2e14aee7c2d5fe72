// Daemon re-exec (contract 10): culvertd replaces its program in place; a client in the middle of
// Watch sees daemon_going_away then daemon_back with the next seqs, same epoch, no disconnect;
// the control connection keeps working; tunnels keep their provider, settings and traffic.

import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class ReexecTests: XCTestCase {
    func testReexecKeepsConnectionsWatchersAndTunnels() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("steady", options: ["routes": "0.0.0.0/0", "dns": "10.77.0.53"])
        let before = try h.networkStateA()
        let reply = try h.connect("steady")
        let pid = try XCTUnwrap(reply["session"]?["pid"]?.intValue)
        let connected = try h.networkStateA()
        let watcher = try h.daemon.connect()
        try watcher.startWatch()
        let snapshot = try watcher.nextEvent()
        let epoch = try XCTUnwrap(snapshot["epoch"]?.stringValue)
        let seq = try XCTUnwrap(snapshot["seq"]?.intValue)
        let daemonPid = h.daemon.pid

        _ = try h.control.call("io.culvert.Manager.Reexec", [:], timeoutMilliseconds: replyTimeoutMilliseconds)
        let goingAway = try watcher.nextEvent()
        XCTAssertEqual(goingAway["kind"]?.stringValue, "daemon_going_away")
        XCTAssertEqual(goingAway["seq"]?.intValue, seq + 1)
        let back = try watcher.nextEvent()
        XCTAssertEqual(back["kind"]?.stringValue, "daemon_back", back.jsonString)
        XCTAssertEqual(back["seq"]?.intValue, seq + 2)
        XCTAssertEqual(back["epoch"]?.stringValue, epoch, "the epoch survives a re-exec")
        XCTAssertEqual(back["daemon"]?["pid"]?.intValue, Int64(daemonPid), "same process, new image")

        // The same control connection goes on working, and the session never changed.
        let status = try h.control.call("io.culvert.Manager.GetStatus", [:], timeoutMilliseconds: replyTimeoutMilliseconds)
        XCTAssertEqual(status["status"]?["daemon"]?["epoch"]?.stringValue, epoch)
        guard case .array(let sessions)? = status["status"]?["sessions"] else { return XCTFail("no sessions") }
        let session = try XCTUnwrap(sessions.first { $0["profile"]?.stringValue == "steady" })
        XCTAssertEqual(session["state"]?.stringValue, "connected")
        XCTAssertEqual(session["reason"]?.stringValue, "provider_started", "carried, not re-announced")
        XCTAssertEqual(session["pid"]?.intValue, pid)
        try h.assertNetworkState(equals: connected, "a re-exec re-applies and removes nothing")
        let ping = try h.inA(["ping", "-c", "2", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error)
        let log = try h.sessionLog("steady")
        XCTAssertTrue(log.contains { $0.contains("settings applied") }, "the log from before the exec is kept: \(log)")

        // Live events keep flowing on the same Watch, and the tunnel comes down cleanly.
        _ = try h.disconnect("steady")
        var kinds: [String] = []
        let deadline = Date().addingTimeInterval(10)
        while !kinds.contains("session_state:disconnected") && Date() < deadline {
            let event = try watcher.nextEvent()
            kinds.append("\(event["kind"]?.stringValue ?? "?"):\(event["session"]?["state"]?.stringValue ?? "")")
        }
        XCTAssertTrue(kinds.contains("session_state:disconnected"), "\(kinds)")
        try h.assertNetworkState(equals: before)
    }

    func testReexecIsRefusedWhileASessionIsStartingAndForAnUnusableBinary() throws {
        let h = try TunnelLab(test: self, startPeer: false)
        let bad = TunnelLab.remoteError {
            try h.control.call(
                "io.culvert.Manager.Reexec", ["binary": .string("/nonexistent/culvertd")], timeoutMilliseconds: replyTimeoutMilliseconds)
        }
        XCTAssertEqual(bad?.name, "io.culvert.Manager.ReexecFailed")
        XCTAssertEqual(bad?.parameters["reason"]?.stringValue, "binary_unusable")
        try h.saveProfile("slow", options: ["behaviour": "hang-on-start"])
        _ = try h.connect("slow", wait: false)
        let busy = TunnelLab.remoteError {
            try h.control.call("io.culvert.Manager.Reexec", [:], timeoutMilliseconds: replyTimeoutMilliseconds)
        }
        XCTAssertEqual(busy?.name, "io.culvert.Manager.ReexecFailed")
        XCTAssertEqual(busy?.parameters["reason"]?.stringValue, "busy")
        XCTAssertEqual(try h.session("slow")?["state"]?.stringValue, "connecting", "a refused re-exec changes nothing")
    }

    /// dpkg installs a new culvertd by renaming it over the running one; /proc/self/exe then reads
    /// "… (deleted)". Reexec without `binary` (the postinst's and ExecReload's call) runs the new file.
    func testReexecWithoutBinaryRunsTheFileThatReplacedTheRunningOne() throws {
        let work = try TemporaryDirectory(prefix: "culvert-replaced")
        defer { work.remove() }
        let installed = work.path + "/sbin/culvertd"
        try FileManager.default.createDirectory(atPath: work.path + "/sbin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Products.path(of: "culvertd"), toPath: installed)
        let daemon = DaemonProcess(root: work.path + "/root", executable: installed)
        defer { daemon.crash() }
        try daemon.start()
        let pid = daemon.pid
        let control = try daemon.connect()
        try FileManager.default.copyItem(atPath: Products.path(of: "culvertd"), toPath: installed + ".dpkg-new")
        XCTAssertEqual(rename(installed + ".dpkg-new", installed), 0, "rename over the running binary")
        let before = try FileSystem.symbolicLinkTarget("/proc/\(pid)/exe")
        XCTAssertEqual(before, installed + " (deleted)")
        _ = try control.call("io.culvert.Manager.Reexec", [:], timeoutMilliseconds: replyTimeoutMilliseconds)
        var after = before
        for _ in 0..<100 where after != installed {  // the exec happens after the reply: bounded wait
            usleep(50_000)
            after = (try? FileSystem.symbolicLinkTarget("/proc/\(pid)/exe")) ?? after  // try?: mid-exec reads may fail; retried
        }
        XCTAssertEqual(after, installed, "culvertd did not re-execute the replacing file")
        XCTAssertEqual(try daemon.connect().call("io.culvert.Manager.Ping")["version"]?.stringValue?.isEmpty, false)
    }
}
