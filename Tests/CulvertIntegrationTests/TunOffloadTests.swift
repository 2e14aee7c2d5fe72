// Bundle capability `tun-offload` in culvertd (issue 13): the session's TUN carries IFF_VNET_HDR
// exactly when the running version declares it (read from /sys/class/net/<ifname>/tun_flags in
// the lab's namespace), a live upgrade between versions that differ in it restarts the session on a
// new TUN of the new framing (reason tun_framing_changed, even with `handover`), a failed one rolls
// back onto a TUN of the old framing, and re-adoption after a culvertd crash keeps the framing.

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class TunOffloadTests: XCTestCase {
    /// IFF_VNET_HDR in tun_flags.
    static let virtioHeaderFlag = 0x4000

    func testTunCarriesTheVirtioHeaderOnlyWhenTheManifestDeclaresIt() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let plain = try XCTUnwrap(try h.connect("lab")["session"]?["interface"]?.stringValue)
        XCTAssertEqual(try tunFlags(h, plain) & Self.virtioHeaderFlag, 0, "1.0.0 declares no tun-offload")
        try h.disconnect("lab")

        try h.installTestProvider(version: "1.1.0", capabilities: [.tunOffload])
        let reply = try h.connect("lab")
        XCTAssertEqual(reply["session"]?["state"]?.stringValue, "connected")
        let offload = try XCTUnwrap(reply["session"]?["interface"]?.stringValue)
        XCTAssertEqual(try tunFlags(h, offload) & Self.virtioHeaderFlag, Self.virtioHeaderFlag, "1.1.0 declares tun-offload")
        try h.disconnect("lab")
        XCTAssertFalse(try h.inA(["ip", "-j", "link"]).output.contains(offload), "the interface goes with the session")
    }

    /// Offloading (+handover) → plain (+handover): stop → start on a new, plain TUN; traffic flows after.
    func testUpgradeToAVersionWithoutOffloadRestartsOnAPlainTun() throws {
        let h = try TunnelLab(test: self)
        try h.installTestProvider(version: "1.1.0", capabilities: [.tunOffload, .handover])
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let interface = try XCTUnwrap(try h.connect("lab")["session"]?["interface"]?.stringValue)
        XCTAssertEqual(try tunFlags(h, interface) & Self.virtioHeaderFlag, Self.virtioHeaderFlag)
        let position = try h.control.call("io.culvert.Manager.Ping", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)

        XCTAssertEqual(try h.installTestProvider(version: "2.0.0", capabilities: [.handover])["result"]?.stringValue, "replaced")
        try assertRestartedOnNewTun(h, since: position, version: "2.0.0", interface: interface, framing: 0)
        let ping = try h.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error)
        try h.disconnect("lab")
    }

    /// Plain (+handover) → offloading (+handover). Only the reason and the framing are checked: pings
    /// through an offloading version need the SDK half of issue 13 (PacketFlow).
    func testUpgradeToAnOffloadingVersionRestartsOnAVirtioTun() throws {
        let h = try TunnelLab(test: self)
        try h.installTestProvider(version: "1.1.0", capabilities: [.handover])
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let interface = try XCTUnwrap(try h.connect("lab")["session"]?["interface"]?.stringValue)
        XCTAssertEqual(try tunFlags(h, interface) & Self.virtioHeaderFlag, 0)
        let position = try h.control.call("io.culvert.Manager.Ping", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)

        let installed = try h.installTestProvider(version: "2.0.0", capabilities: [.tunOffload, .handover])
        XCTAssertEqual(installed["result"]?.stringValue, "replaced")
        try assertRestartedOnNewTun(h, since: position, version: "2.0.0", interface: interface, framing: Self.virtioHeaderFlag)
        try h.disconnect("lab")
    }

    /// A new version that crashes at start: the upgrade rolls back onto a TUN of the old framing.
    func testFailedFramingChangeRollsBackOntoATunOfTheOldFraming() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let interface = try XCTUnwrap(try h.connect("lab")["session"]?["interface"]?.stringValue)
        let position = try h.control.call("io.culvert.Manager.Ping", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        let error = TunnelLab.remoteError {
            try h.installTestProvider(version: "2.0.0", capabilities: [.tunOffload], behaviour: "crash-at-start")
        }
        XCTAssertEqual(error?.name, "io.culvert.Manager.UpgradeFailed", String(describing: error))
        XCTAssertEqual(error?.parameters["reason"]?.stringValue, "new_provider_exited")
        let started = try XCTUnwrap(
            try h.daemon.eventsAfter(position, requireReplay: false).first { $0["kind"]?.stringValue == "handover_started" })
        XCTAssertEqual(started["reason"]?.stringValue, "tun_framing_changed")
        let session = try XCTUnwrap(try h.session("lab"))
        XCTAssertEqual(session["state"]?.stringValue, "connected")
        XCTAssertEqual(session["extensionVersion"]?.stringValue, "1.0.0")
        XCTAssertEqual(session["interface"]?.stringValue, interface, "the name is free again for the rollback")
        XCTAssertEqual(try tunFlags(h, interface) & Self.virtioHeaderFlag, 0, "1.0.0 runs on a plain TUN again")
        let ping = try h.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error)
    }

    /// A re-adopted offloading session keeps its TUN, and a later upgrade still sees its framing.
    func testReadoptedSessionKeepsItsFraming() throws {
        let h = try TunnelLab(test: self)
        try h.installTestProvider(version: "1.1.0", capabilities: [.tunOffload])
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let reply = try h.connect("lab")
        let interface = try XCTUnwrap(reply["session"]?["interface"]?.stringValue)
        let pid = try XCTUnwrap(reply["session"]?["pid"]?.intValue)
        h.daemon.crash()
        try h.daemon.start()
        let control = try h.daemon.connect()
        let session = try XCTUnwrap(try Self.session(control, "lab"))
        XCTAssertEqual(session["reason"]?.stringValue, "readopted")
        XCTAssertEqual(session["pid"]?.intValue, pid)
        XCTAssertEqual(try tunFlags(h, interface) & Self.virtioHeaderFlag, Self.virtioHeaderFlag)

        let position = try control.call("io.culvert.Manager.Ping", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        let bundle = try h.providerBundle(version: "2.0.0")
        _ = try control.call(
            "io.culvert.Manager.InstallExtension", ["path": .string(bundle)], timeoutMilliseconds: TunnelLab.sessionCallMilliseconds)
        let completed = try XCTUnwrap(
            try h.daemon.eventsAfter(position, requireReplay: false).first { $0["kind"]?.stringValue == "handover_completed" })
        XCTAssertEqual(completed["reason"]?.stringValue, "tun_framing_changed")
        XCTAssertEqual(try tunFlags(h, interface) & Self.virtioHeaderFlag, 0)
        let ping = try h.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error)
    }

    /// A handover between two offloading versions keeps the TUN (reason handover) and loses no ping.
    ///
    /// DEPENDS ON THE SDK HALF OF ISSUE 13: the test provider reads its TUN through `PacketFlow`, which
    /// must handle the virtio_net_hdr (wip-sdkoffload). Until that is merged an offloading test
    /// provider relays the header as if it were the packet, so no ping passes and this test fails.
    func testHandoverBetweenOffloadingVersionsLosesNoPing() throws {
        let h = try TunnelLab(test: self)
        try h.installTestProvider(version: "1.1.0", capabilities: [.tunOffload, .handover])
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let interface = try XCTUnwrap(try h.connect("lab")["session"]?["interface"]?.stringValue)
        let position = try h.control.call("io.culvert.Manager.Ping", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        let pingLog = h.directory.path + "/ping.log"
        let ping = try h.namespaces.spawn(
            in: h.namespaces.a, ["ping", "-n", "-c", "80", "-i", "0.05", "-W", "1", TunnelLab.behindPeer], output: pingLog)
        defer { if ping.isRunning { ping.terminate() } }
        Thread.sleep(forTimeInterval: 1)
        let installed = try h.installTestProvider(version: "2.0.0", capabilities: [.tunOffload, .handover])
        XCTAssertEqual(installed["result"]?.stringValue, "replaced")
        ping.waitUntilExit()
        let output = (try? String(contentsOfFile: pingLog, encoding: .utf8)) ?? ""  // absent: reported below
        let (sent, received) = HandoverTests.pingCounts(output)
        XCTAssertEqual(sent, 80, output)
        XCTAssertEqual(sent - received, 0, "pings lost across the offloading handover:\n\(output)")
        let completed = try XCTUnwrap(
            try h.daemon.eventsAfter(position, requireReplay: false).first { $0["kind"]?.stringValue == "handover_completed" })
        XCTAssertEqual(completed["reason"]?.stringValue, "handover")
        XCTAssertEqual(try h.session("lab")?["interface"]?.stringValue, interface, "the same TUN")
        XCTAssertEqual(try tunFlags(h, interface) & Self.virtioHeaderFlag, Self.virtioHeaderFlag)
    }

    // MARK: helpers

    /// The upgrade restarted the session (reasserting, never disconnected) on a new TUN named like
    /// the old one, whose IFF_VNET_HDR bit is `framing`, with the new version's address on it.
    private func assertRestartedOnNewTun(
        _ h: TunnelLab, since position: JSONValue, version: String, interface: String, framing: Int, line: UInt = #line
    ) throws {
        let events = try h.daemon.eventsAfter(position, requireReplay: false)
        for kind in ["handover_started", "handover_completed"] {
            let event = try XCTUnwrap(events.first { $0["kind"]?.stringValue == kind }, "\(kind) in \(events)", line: line)
            XCTAssertEqual(event["reason"]?.stringValue, "tun_framing_changed", kind, line: line)
        }
        let transitions = events.filter { $0["kind"]?.stringValue == "session_state" }.map {
            "\($0["previousState"]?.stringValue ?? "?")→\($0["session"]?["state"]?.stringValue ?? "?")"
        }
        XCTAssertEqual(transitions, ["connected→reasserting", "reasserting→connected"], "never disconnected", line: line)
        let session = try XCTUnwrap(try h.session("lab"), line: line)
        XCTAssertEqual(session["state"]?.stringValue, "connected", line: line)
        XCTAssertEqual(session["extensionVersion"]?.stringValue, version, line: line)
        XCTAssertEqual(session["interface"]?.stringValue, interface, "the name was free for the new TUN", line: line)
        XCTAssertEqual(session["addresses"]?.stringList, [TunnelLab.tunnelAddressA + "/24"], line: line)
        XCTAssertEqual(try tunFlags(h, interface) & Self.virtioHeaderFlag, framing, line: line)
        let addresses = try h.inA(["ip", "-4", "-o", "addr", "show", "dev", interface]).output
        XCTAssertTrue(addresses.contains(TunnelLab.tunnelAddressA + "/24"), "the new version's settings: \(addresses)", line: line)
    }

    /// tun_flags of `interface` in the lab's namespace A.
    private func tunFlags(_ h: TunnelLab, _ interface: String) throws -> Int {
        let shown = try h.inA(["cat", "/sys/class/net/\(interface)/tun_flags"])
        let text = shown.output.trimmingCharacters(in: .whitespacesAndNewlines)
        return try XCTUnwrap(Int(text.hasPrefix("0x") ? String(text.dropFirst(2)) : text, radix: 16), "tun_flags: \(text) \(shown.error)")
    }

    private static func session(_ control: VarlinkClientConnection, _ name: String) throws -> JSONValue? {
        let status = try control.call("io.culvert.Manager.GetStatus", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        guard case .array(let sessions)? = status["status"]?["sessions"] else { return nil }
        return sessions.first { $0["profile"]?.stringValue == name }
    }
}
