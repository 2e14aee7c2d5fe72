// The kill switch's acceptance tests (issue 16 item 1): with a kill-switch profile connected, an
// application in A pinging an address reachable through the underlay but outside the tunnel gets
// no reply and the observer in B (KillSwitchLab) counts 0 packets — nor do `nobody`'s IPv4
// datagrams and `ping -I` naming the underlay device (the nftables layer) — during a provider crash with
// alwaysOn restart, a stop→start upgrade, a handover upgrade, a re-exec, and a culvertd kill -9
// with 5 s down and a restart; the tunnel works after each; an explicit Disconnect restores A's
// `ip -j` state exactly; a held kill switch whose profile was removed while culvertd was dead is
// removed at start.

import CulvertBundle
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class KillSwitchTests: XCTestCase {
    /// How long culvertd stays dead in the crash tests (the figure).
    static let downSeconds: UInt32 = 5
    /// Longest an alwaysOn restart, an upgrade or a re-adoption may take to show connected.
    static let settleSeconds: TimeInterval = 20

    /// A connected kill-switch profile "ks" (routes only 10.99.0.1/32 through the tunnel), after
    /// the observer proved it sees leaks. Returns the lab, A's state before Connect, the
    /// observer's count and the provider's pid.
    private func connected(alwaysOn: Bool = false) throws -> (KillSwitchLab, [String: String], Int, Int64) {
        let k = try KillSwitchLab(test: self)
        let h = k.lab
        try h.saveProfile("ks", options: ["routes": TunnelLab.behindPeer + "/32"], alwaysOn: alwaysOn, killSwitch: true)
        let count = try k.checkObserverSeesLeaks()
        let baseline = try h.networkStateA()
        let reply = try h.connect("ks")
        XCTAssertEqual(reply["session"]?["state"]?.stringValue, "connected", reply.jsonString)
        XCTAssertEqual(reply["session"]?["killSwitch"]?.boolValue, true, reply.jsonString)
        let pid = try XCTUnwrap(reply["session"]?["pid"]?.intValue)
        XCTAssertTrue(try k.tunnelWorks(), "the tunnel carries traffic under the kill switch")
        let probe = try k.probe()
        XCTAssertFalse(probe.ipv4 || probe.ipv6, "off-tunnel probes must fail while connected")
        XCTAssertEqual(try k.deviceBoundProbe(), 0, "no device-bound IPv4 leaves by the underlay while connected")
        XCTAssertEqual(try k.observed(), count, "nothing off the tunnel while connected")
        XCTAssertEqual(try k.firewallTable(), "present")
        return (k, baseline, count, pid)
    }

    /// After the event: nothing got through, the observer saw nothing, the tunnel works; then an
    /// explicit Disconnect releases the kill switch and A is back at `baseline`.
    private func finish(
        _ k: KillSwitchLab, prober: KillSwitchLab.Prober, count: Int, baseline: [String: String], control: VarlinkClientConnection,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        XCTAssertEqual(prober.stop(), 0, "off-tunnel probes got replies", file: file, line: line)
        XCTAssertEqual(try k.observed(), count, "packets left A outside the tunnel", file: file, line: line)
        XCTAssertTrue(try k.tunnelWorks(), "the tunnel works again", file: file, line: line)
        XCTAssertEqual(try KillSwitchLab.held("ks", connection: control), true, file: file, line: line)
        _ = try control.call(
            "io.culvert.Manager.Disconnect", ["profile": .string("ks")], timeoutMilliseconds: TunnelLab.sessionCallMilliseconds)
        XCTAssertEqual(try KillSwitchLab.held("ks", connection: control), false, file: file, line: line)
        try k.lab.assertNetworkState(equals: baseline, "after Disconnect", file: file, line: line)
        XCTAssertEqual(try k.firewallTable(), "absent", "the nftables table goes with the hold", file: file, line: line)
        XCTAssertTrue(try k.probe().ipv4, "off-tunnel traffic flows again after Disconnect", file: file, line: line)
        XCTAssertGreaterThan(try k.deviceBoundProbe(), 0, "device-bound traffic flows again after Disconnect", file: file, line: line)
    }

    func testProviderCrashWithAlwaysOnRestartLeaksNothing() throws {
        let (k, baseline, count, pid) = try connected(alwaysOn: true)
        let prober = try k.prober("crash")
        kill(pid_t(pid), SIGKILL)
        let restarted = try k.lab.waitForSession("ks", timeout: Self.settleSeconds) {
            $0["state"]?.stringValue == "connected" && $0["pid"]?.intValue != pid
        }
        XCTAssertEqual(restarted?["state"]?.stringValue, "connected", restarted?.jsonString ?? "no session")
        XCTAssertNotEqual(restarted?["pid"]?.intValue, pid, "a new provider")
        try finish(k, prober: prober, count: count, baseline: baseline, control: k.lab.control)
    }

    /// A full tunnel's default route goes into the session's table: the provider's own (protected)
    /// traffic still leaves through the mark rule, the tunnel carries everything else, and while
    /// the provider restarts nothing reaches the observer.
    func testFullTunnelProviderCrashLeaksNothing() throws {
        let k = try KillSwitchLab(test: self)
        let h = k.lab
        try h.saveProfile("full", options: ["routes": "0.0.0.0/0"], alwaysOn: true, killSwitch: true)
        let count = try k.checkObserverSeesLeaks()
        let baseline = try h.networkStateA()
        let reply = try h.connect("full")
        XCTAssertEqual(reply["session"]?["fullTunnel"]?.boolValue, true, reply.jsonString)
        let pid = try XCTUnwrap(reply["session"]?["pid"]?.intValue)
        XCTAssertTrue(try k.tunnelWorks(), "the full tunnel carries traffic (and its own UDP does not loop)")
        let rules = try h.namespaces.ip(in: h.namespaces.a, ["rule", "show"])
        XCTAssertFalse(rules.contains("suppress_prefixlength"), "no full-tunnel rules under the kill switch:\n\(rules)")
        let prober = try k.prober("full")
        kill(pid_t(pid), SIGKILL)
        let restarted = try h.waitForSession("full", timeout: Self.settleSeconds) {
            $0["state"]?.stringValue == "connected" && $0["pid"]?.intValue != pid
        }
        XCTAssertEqual(restarted?["state"]?.stringValue, "connected", restarted?.jsonString ?? "no session")
        _ = prober.stop()  // probes may be answered through the tunnel: only the observer counts here
        XCTAssertEqual(try k.observed(), count, "packets left A outside the tunnel")
        XCTAssertTrue(try k.tunnelWorks())
        try h.disconnect("full")
        try h.assertNetworkState(equals: baseline, "after Disconnect")
        XCTAssertEqual(try k.firewallTable(), "absent")
    }

    /// Removing the profile of a running kill-switch session stops it and releases the kill switch.
    func testProfileRemovalReleasesTheKillSwitch() throws {
        let (k, baseline, _, _) = try connected()
        _ = try k.lab.control.call(
            "io.culvert.Manager.RemoveProfile", ["name": .string("ks")], timeoutMilliseconds: TunnelLab.sessionCallMilliseconds)
        let ended = try k.lab.waitForSession("ks", timeout: Self.settleSeconds) { $0["state"]?.stringValue == "invalid" }
        XCTAssertEqual(ended?["state"]?.stringValue, "invalid", "the session ends")
        XCTAssertEqual(ended?["killSwitch"]?.boolValue, false, "and shows the kill switch released")
        XCTAssertEqual(try k.killSwitchRules(), [], "released with the profile")
        XCTAssertEqual(try k.firewallTable(), "absent", "the nftables table too")
        try k.lab.assertNetworkState(equals: baseline, "after the profile's removal")
    }

    func testStopStartUpgradeLeaksNothing() throws {
        let (k, baseline, count, _) = try connected()
        let prober = try k.prober("restart-upgrade")
        let installed = try k.lab.installTestProvider(version: "2.0.0")
        XCTAssertEqual(installed["result"]?.stringValue, "replaced", installed.jsonString)
        let session = try k.lab.waitForSession("ks", timeout: Self.settleSeconds) {
            $0["state"]?.stringValue == "connected" && $0["extensionVersion"]?.stringValue == "2.0.0"
        }
        XCTAssertEqual(session?["extensionVersion"]?.stringValue, "2.0.0", session?.jsonString ?? "no session")
        try finish(k, prober: prober, count: count, baseline: baseline, control: k.lab.control)
    }

    func testHandoverUpgradeLeaksNothing() throws {
        let (k, baseline, count, _) = try connected()
        let prober = try k.prober("handover")
        let installed = try k.lab.installTestProvider(version: "2.0.0", capabilities: [.handover])
        XCTAssertEqual(installed["result"]?.stringValue, "replaced", installed.jsonString)
        let session = try k.lab.waitForSession("ks", timeout: Self.settleSeconds) {
            $0["state"]?.stringValue == "connected" && $0["extensionVersion"]?.stringValue == "2.0.0"
        }
        XCTAssertEqual(session?["extensionVersion"]?.stringValue, "2.0.0", session?.jsonString ?? "no session")
        try finish(k, prober: prober, count: count, baseline: baseline, control: k.lab.control)
    }

    func testReexecLeaksNothing() throws {
        let (k, baseline, count, pid) = try connected()
        let prober = try k.prober("reexec")
        _ = try k.lab.control.call("io.culvert.Manager.Reexec", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        let session = try k.lab.waitForSession("ks", timeout: Self.settleSeconds) { $0["state"]?.stringValue == "connected" }
        XCTAssertEqual(session?["pid"]?.intValue, pid, "the same provider, re-adopted")
        try finish(k, prober: prober, count: count, baseline: baseline, control: k.lab.control)
    }

    func testDaemonKilledFiveSecondsDownAndRestartedLeaksNothing() throws {
        let (k, baseline, count, pid) = try connected()
        let rules = try k.killSwitchRules()
        let prober = try k.prober("daemon-crash")
        k.lab.daemon.crash()
        sleep(Self.downSeconds)
        XCTAssertEqual(try k.killSwitchRules(), rules, "the rules outlive culvertd")
        XCTAssertEqual(try k.firewallTable(), "present", "so does the nftables table")
        XCTAssertEqual(try k.deviceBoundProbe(), 0, "no device-bound IPv4 leaves with no culvertd")
        try k.lab.daemon.start()
        let control = try k.lab.daemon.connect()
        let status = try control.call("io.culvert.Manager.GetStatus", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        XCTAssertEqual(status["status"]?["problems"], .array([]), "a held kill switch is adopted, not reported")
        let session = try XCTUnwrap(KillSwitchTests.session("ks", status))
        XCTAssertEqual(session["pid"]?.intValue, pid, "re-adopted")
        XCTAssertEqual(try k.killSwitchRules(), rules, "adopted as they were")
        try finish(k, prober: prober, count: count, baseline: baseline, control: control)
    }

    /// The provider dies while no culvertd runs: only the rules hold, and a restarted culvertd
    /// shows the session disconnected but held until a Connect (which works) or a Disconnect.
    func testHeldWithNothingRunningUntilDisconnect() throws {
        let (k, baseline, count, pid) = try connected()
        let prober = try k.prober("nothing-running")
        k.lab.daemon.crash()
        kill(pid_t(pid), SIGKILL)
        sleep(Self.downSeconds)
        try k.lab.daemon.start()
        let control = try k.lab.daemon.connect()
        let status = try control.call("io.culvert.Manager.GetStatus", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        let session = try XCTUnwrap(KillSwitchTests.session("ks", status), status.jsonString)
        XCTAssertEqual(session["state"]?.stringValue, "disconnected")
        XCTAssertEqual(session["killSwitch"]?.boolValue, true)
        XCTAssertEqual(prober.stop(), 0, "off-tunnel probes got replies with nothing running")
        XCTAssertEqual(try k.observed(), count, "packets left A with nothing running")
        let again = try control.call(
            "io.culvert.Manager.Connect", ["profile": .string("ks"), "wait": .bool(true)],
            timeoutMilliseconds: TunnelLab.sessionCallMilliseconds)
        XCTAssertEqual(again["session"]?["state"]?.stringValue, "connected", again.jsonString)
        try finish(k, prober: try k.prober("reconnected"), count: count, baseline: baseline, control: control)
    }

    func testAStaleKillSwitchIsRemovedAtStart() throws {
        let (k, baseline, _, pid) = try connected()
        k.lab.daemon.crash()
        kill(pid_t(pid), SIGKILL)
        try FileManager.default.removeItem(atPath: k.lab.daemon.stateDirectory + "/profiles/ks.json")
        XCTAssertFalse(try k.killSwitchRules().isEmpty, "held while culvertd is dead")
        try k.lab.daemon.start()
        let control = try k.lab.daemon.connect()
        try k.lab.assertNetworkState(equals: baseline, "a stale kill switch is removed")
        XCTAssertEqual(try k.firewallTable(), "absent", "with its nftables table")
        let status = try control.call("io.culvert.Manager.GetStatus", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        guard case .array(let problems)? = status["status"]?["problems"] else { return XCTFail(status.jsonString) }
        XCTAssertTrue(problems.contains { $0["kind"]?.stringValue == "stale_kill_switch" }, status.jsonString)
        XCTAssertTrue(try k.probe().ipv4, "off-tunnel traffic flows again")
    }

    private static func session(_ name: String, _ status: JSONValue) -> JSONValue? {
        guard case .array(let sessions)? = status["status"]?["sessions"] else { return nil }
        return sessions.first { $0["profile"]?.stringValue == name }
    }
}
