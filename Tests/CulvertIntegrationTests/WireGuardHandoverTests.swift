// WireGuardHandoverTests (issue 14 item 4): culvert-wireguard in namespace A against Debian's
// wireguard-go in B, a 1,000 pings/s flood from A to B's tunnel address running throughout, and
// (a) a live extension upgrade to a second bundle version (a handover), (b) a culvertd re-exec,
// (c) culvertd killed with SIGKILL and restarted (re-adoption of a provider that took over by
// handover); and (d) an upgrade whose import fails (the profile's key changed), so the running
// version resumes. Each time B's `wg show latest-handshakes` must not change (no new handshake)
// and no ping may be lost. Root; private namespaces torn down by the labs even when a test fails.

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class WireGuardHandoverTests: XCTestCase {
    /// Pings in the flood and their interval (1,000 per second).
    static let floodCount = 4000
    static let floodInterval = "0.001"
    /// How long the flood runs before the step under test starts.
    static let floodLead: TimeInterval = 1
    /// Bound on waiting for ping to finish (the flood is 4 s long; its last reply waits up to -W 2).
    static let floodBound: TimeInterval = 30

    private func makeLab() throws -> WireGuardLab {
        let tunnel = try TunnelLab(test: self, startPeer: false)
        let lab = try WireGuardLab(lab: tunnel, capabilities: [.handover])
        addTeardownBlock { lab.tearDown() }
        try lab.importProfile()
        let reply = try lab.lab.connect("wg")
        XCTAssertEqual(try lab.lab.session("wg")?["state"]?.stringValue, "connected", "Connect: \(reply)")
        let first = try lab.lab.inA(["ping", "-c", "2", "-W", "5", WireGuardLab.tunnelAddressB])
        XCTAssertEqual(first.status, 0, first.output + first.error + lab.failureLog)
        XCTAssertGreaterThan(try lab.latestHandshakeInB(), 0, "the one handshake")
        return lab
    }

    /// Runs `step` while A floods B with pings; asserts the flood outlasted the step, lost nothing,
    /// and B saw no new handshake.
    private func flood(_ lab: WireGuardLab, _ name: String, during step: () throws -> Void) throws {
        let handshake = try lab.latestHandshakeInB()
        let output = lab.lab.directory.path + "/flood-\(name).log"
        let ping = try lab.lab.namespaces.spawn(
            in: lab.lab.namespaces.a,
            ["ping", "-n", "-q", "-i", Self.floodInterval, "-c", "\(Self.floodCount)", "-W", "2", WireGuardLab.tunnelAddressB],
            output: output)
        defer { if ping.isRunning { ping.terminate() } }
        Thread.sleep(forTimeInterval: Self.floodLead)
        let started = Date()
        try step()
        let took = Date().timeIntervalSince(started)
        XCTAssertTrue(ping.isRunning, "\(name) took \(took) s: longer than the flood, which proves nothing")
        let deadline = Date().addingTimeInterval(Self.floodBound)
        while ping.isRunning && Date() < deadline { usleep(50_000) }
        XCTAssertFalse(ping.isRunning, "ping did not finish")
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""  // try?: absent is reported below
        let (sent, received) = HandoverTests.pingCounts(text)
        let rtt = text.split(separator: "\n").first { $0.hasPrefix("rtt") } ?? "no rtt line"
        print("WireGuardHandoverTests \(name): step \(String(format: "%.2f", took)) s, pings \(sent) sent \(received) received, \(rtt)")
        XCTAssertEqual(sent, Self.floodCount, text)
        XCTAssertEqual(sent - received, 0, "pings lost across \(name):\n\(text)" + lab.failureLog)
        XCTAssertEqual(try lab.latestHandshakeInB(), handshake, "B saw a new handshake across \(name)" + lab.failureLog)
    }

    func testLiveUpgradeHandsTheSessionsOver() throws {
        let lab = try makeLab()
        let oldPID = try XCTUnwrap(try lab.lab.session("wg")?["pid"]?.intValue)
        let position = try lab.lab.control.call("io.culvert.Manager.Ping", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        try flood(lab, "upgrade") {
            let installed = try lab.installBundle(version: "2.0.0", capabilities: [.handover])
            XCTAssertEqual(installed["result"]?.stringValue, "replaced", "\(installed)")
        }
        let session = try XCTUnwrap(try lab.lab.session("wg"))
        XCTAssertEqual(session["state"]?.stringValue, "connected")
        XCTAssertEqual(session["extensionVersion"]?.stringValue, "2.0.0")
        XCTAssertNotEqual(session["pid"]?.intValue, oldPID, "a new provider process")
        let text = try lab.lab.sessionLog("wg").joined(separator: "\n")
        XCTAssertTrue(text.contains("took over by handover"), text)
        let events = try lab.lab.daemon.eventsAfter(position, keepingStats: true, requireReplay: false)
        let completed = events.first { $0["kind"]?.stringValue == "handover_completed" }
        XCTAssertEqual(completed?["reason"]?.stringValue, "handover", "\(events.compactMap { $0["kind"]?.stringValue })")
        let peer = (try lab.providerStatus()["peers"] as? [[String: Any]])?.first ?? [:]
        XCTAssertEqual(peer["handshakesInitiated"] as? Int, 1, "the statistics came across; no handshake since")
        try assertNoSecrets(lab, text)
    }

    func testAFailedImportResumesTheRunningVersionWithoutAHandshake() throws {
        let lab = try makeLab()
        let pid = try XCTUnwrap(try lab.lab.session("wg")?["pid"]?.intValue)
        // The profile now names another interface key: the new version refuses the handed-over state.
        let generated = try NetworkNamespacePair.run(WireGuardLab.wgCommand, ["genkey"])
        let otherKey = generated.output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(generated.status, 0, generated.error)
        let file = lab.lab.directory.path + "/wg-other-key.conf"
        let text = lab.wgQuickFileA().replacingOccurrences(of: lab.privateKeyA, with: otherKey)
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]))
        let replaced = try lab.culvertctl(["profile", "import", file, "--name", "wg", "--replace"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        try flood(lab, "failed import") {
            let error = TunnelLab.remoteError { try lab.installBundle(version: "2.0.0", capabilities: [.handover]) }
            XCTAssertEqual(error?.name, "io.culvert.Manager.UpgradeFailed", String(describing: error))
            XCTAssertTrue(String(describing: error).contains("another interface key"), String(describing: error))
        }
        let session = try XCTUnwrap(try lab.lab.session("wg"))
        XCTAssertEqual(session["pid"]?.intValue, pid, "the running version carried on")
        XCTAssertEqual(session["extensionVersion"]?.stringValue, "1.0.0")
        let log = try lab.lab.sessionLog("wg").joined(separator: "\n")
        XCTAssertTrue(log.contains("data plane running again"), log)
        XCTAssertFalse(log.contains(otherKey), "a key leaked")
    }

    func testReexecKeepsTheSession() throws {
        let lab = try makeLab()
        let pid = try XCTUnwrap(try lab.lab.session("wg")?["pid"]?.intValue)
        try flood(lab, "re-exec") {
            _ = try lab.lab.control.call("io.culvert.Manager.Reexec", [:], timeoutMilliseconds: TunnelLab.sessionCallMilliseconds)
            _ = try lab.lab.control.call("io.culvert.Manager.Ping", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        }
        XCTAssertEqual(try lab.lab.session("wg")?["pid"]?.intValue, pid, "the same provider throughout")
        XCTAssertEqual(try lab.lab.session("wg")?["state"]?.stringValue, "connected")
    }

    func testDaemonKillAndRestartReadoptsTheSession() throws {
        let lab = try makeLab()
        // A handed-over provider (its record moved to the new run) is what culvertd must re-adopt.
        let installed = try lab.installBundle(version: "2.0.0", capabilities: [.handover])
        XCTAssertEqual(installed["result"]?.stringValue, "replaced", "\(installed)")
        let pid = try XCTUnwrap(try lab.lab.session("wg")?["pid"]?.intValue)
        try flood(lab, "kill -9 and restart") {
            lab.lab.daemon.crash()
            try lab.lab.daemon.start()
        }
        let control = try lab.lab.daemon.connect()
        defer { control.close() }
        let reply = try control.call("io.culvert.Manager.GetStatus", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        guard case .array(let sessions)? = reply["status"]?["sessions"] else { return XCTFail("no sessions") }
        let session = try XCTUnwrap(sessions.first { $0["profile"]?.stringValue == "wg" })
        XCTAssertEqual(session["reason"]?.stringValue, "readopted")
        XCTAssertEqual(session["pid"]?.intValue, pid)
        XCTAssertEqual(session["extensionVersion"]?.stringValue, "2.0.0")
        _ = try control.call(
            "io.culvert.Manager.Disconnect", ["profile": .string("wg")], timeoutMilliseconds: TunnelLab.sessionCallMilliseconds)
    }

    // MARK: helpers

    /// Neither the session log nor the status holds the interface's private key or the preshared key.
    private func assertNoSecrets(_ lab: WireGuardLab, _ text: String) throws {
        let all = text + String(describing: try lab.providerStatus()) + lab.lab.daemon.log
        for secret in [lab.privateKeyA, lab.presharedKey] { XCTAssertFalse(all.contains(secret), "a key leaked") }
    }
}
