// Tunnels end to end (issue 4 acceptance): a real culvertd in a private network namespace runs the
// test provider unprivileged; ping and iperf3 cross the tunnel to its peer in a second namespace;
// `ip -j` observes exactly what culvertd created and that Disconnect takes all of it away.

import CulvertCore
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class TunnelTests: XCTestCase {
    func testConnectCarriesTrafficAndDisconnectRestoresEverything() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24", "dns": "10.77.0.53", "search": "lab.invalid"])
        let resolvBefore = try String(contentsOfFile: h.resolvConf, encoding: .utf8)
        let before = try h.networkStateA()

        let reply = try h.connect("lab")
        XCTAssertEqual(reply["session"]?["state"]?.stringValue, "connected")
        let interface = try XCTUnwrap(reply["session"]?["interface"]?.stringValue)
        XCTAssertEqual(reply["session"]?["addresses"]?.stringList, ["10.77.0.1/24"])
        XCTAssertEqual(reply["session"]?["routes"]?.stringList, ["10.99.0.0/24"])
        XCTAssertEqual(reply["session"]?["dnsServers"]?.stringList, ["10.77.0.53"])

        // Exactly the expected objects: one new link with one IPv4 address; one tagged route; no rule.
        let addresses = try h.namespaces.ip(in: h.namespaces.a, ["-j", "-4", "addr", "show", "dev", interface])
        XCTAssertTrue(addresses.contains("\"local\":\"10.77.0.1\""), addresses)
        XCTAssertTrue(addresses.contains("\"prefixlen\":24"), addresses)
        let tagged = try h.namespaces.ip(in: h.namespaces.a, ["-j", "route", "show", "table", "all", "proto", "156"])
        XCTAssertTrue(tagged.contains("\"dst\":\"10.99.0.0/24\""), tagged)
        XCTAssertEqual(tagged.components(separatedBy: "\"dst\"").count - 1, 1, tagged)
        XCTAssertEqual(try h.namespaces.snapshot(in: h.namespaces.a, "rule"), before["rule4"], "no rule for a split tunnel")
        let resolvUp = try String(contentsOfFile: h.resolvConf, encoding: .utf8)
        XCTAssertTrue(resolvUp.contains("nameserver 10.77.0.53"), resolvUp)
        XCTAssertFalse(resolvUp.contains("192.0.2.53"), resolvUp)

        // Traffic crosses the tunnel.
        let ping = try h.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", TunnelLab.tunnelAddressB])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error)
        let behind = try h.inA(["ping", "-c", "2", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(behind.status, 0, behind.output + behind.error)
        let server = try h.namespaces.spawn(
            in: h.namespaces.b, ["iperf3", "-s", "-1", "--forceflush", "-B", TunnelLab.tunnelAddressB],
            output: h.directory.path + "/iperf-server.log")
        defer { if server.isRunning { server.terminate() } }
        // Start the client only once the server listens (bounded wait).
        let listening = Date().addingTimeInterval(10)
        while Date() < listening {
            // try?: not written yet; retry.
            if let log = try? String(contentsOfFile: h.directory.path + "/iperf-server.log", encoding: .utf8), log.contains("listening") {
                break
            }
            usleep(20_000)
        }
        let iperf = try h.inA(["iperf3", "-c", TunnelLab.tunnelAddressB, "-t", "2", "-J"], timeout: 30)
        XCTAssertEqual(iperf.status, 0, iperf.output + iperf.error)
        let result = try JSONSerialization.jsonObject(with: Data(iperf.output.utf8)) as? [String: Any]
        let received = ((result?["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bytes"] as? Int ?? 0
        XCTAssertGreaterThan(received, 100_000, "iperf3 moved too little through the tunnel: \(iperf.output.suffix(1500))")

        // Counters reach status (refreshed every 0.2 s here).
        let counted = try h.waitForSession("lab") { ($0["counters"]?["txBytes"]?.intValue ?? 0) > Int64(received) }
        XCTAssertGreaterThan(counted?["counters"]?["txPackets"]?.intValue ?? 0, 0)

        // The provider is unprivileged and inherited only fds 0–4.
        let pid = try XCTUnwrap(reply["session"]?["pid"]?.intValue)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }.map(String.init) ?? ""
        XCTAssertFalse(uid.split(separator: "\t").dropFirst().contains("0"), uid)
        XCTAssertTrue(status.contains("CapEff:\t0000000000000000"), status)
        XCTAssertTrue(status.contains("NoNewPrivs:\t1"), status)
        let log = try h.sessionLog("lab")
        XCTAssertTrue(log.contains { $0.hasSuffix("open descriptors: 0 1 2 3 4") }, log.joined(separator: "\n"))

        let down = try h.disconnect("lab")
        XCTAssertEqual(down["session"]?["state"]?.stringValue, "disconnected")
        XCTAssertNil(down["session"]?["interface"]?.stringValue)
        try h.assertNetworkState(equals: before)
        XCTAssertEqual(try String(contentsOfFile: h.resolvConf, encoding: .utf8), resolvBefore)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/proc/\(pid)"), "the provider must be gone")
    }

    func testFullTunnelUsesPolicyRoutingAndDoesNotLoop() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("everything", options: ["routes": "0.0.0.0/0"])
        let before = try h.networkStateA()
        let reply = try h.connect("everything")
        XCTAssertEqual(reply["session"]?["fullTunnel"]?.boolValue, true)
        let rules = try h.namespaces.ip(in: h.namespaces.a, ["-j", "-4", "rule", "show"])
        XCTAssertTrue(
            rules.contains("{\"priority\":32700,\"src\":\"all\",\"table\":\"main\",\"suppress_prefixlen\":0,\"protocol\":\"156\"}"), rules)
        XCTAssertTrue(
            rules.contains(
                "\"priority\":32701,\"not\":null,\"src\":\"all\",\"fwmark\":\"0x9c43\",\"table\":\"40003\",\"protocol\":\"156\""), rules)
        let table = try h.namespaces.ip(in: h.namespaces.a, ["-j", "route", "show", "table", String(0x9c43)])
        XCTAssertTrue(table.contains("\"dst\":\"default\""), table)
        // 10.99.0.1 has no route in A but the tunnel's default: it can only be reached through the
        // tunnel, whose outer packets (to the peer's address) must bypass it via the protected socket.
        let behind = try h.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(behind.status, 0, behind.output + behind.error + h.peerLog)
        let outer = try h.inA(["ping", "-c", "1", "-W", "2", NetworkNamespacePair.addressB])
        XCTAssertEqual(outer.status, 0, outer.output + outer.error)
        _ = try h.disconnect("everything")
        try h.assertNetworkState(equals: before)
    }

    func testProviderCannotChangeTheNetworkItself() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("meddler", options: ["behaviour": "try-netlink"])
        try h.connect("meddler")
        let log = try h.sessionLog("meddler")
        let attempt = try XCTUnwrap(log.first { $0.contains("netlink add address:") }, log.joined(separator: "\n"))
        XCTAssertTrue(attempt.contains("Operation not permitted"), attempt)
        _ = try h.disconnect("meddler")
    }

    func testProtectedSocketsGetLargeBuffers() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        _ = try h.connect("lab")
        // The provider's UDP socket (the only UDP socket in A) is protected: culvertd forced its
        // buffers past rmem_max; the kernel reports twice the size set.
        let sockets = try h.inA(["ss", "-u", "-a", "-m", "-n"])
        XCTAssertEqual(sockets.status, 0, sockets.error)
        let wanted = 2 * (7 << 20)  // ProviderLimits.protectedSocketBufferBytes, doubled
        let sizes = sockets.output.components(separatedBy: "rb").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }
        XCTAssertFalse(sizes.isEmpty, sockets.output)
        XCTAssertTrue(sizes.allSatisfy { $0 >= wanted }, "receive buffers \(sizes), wanted \(wanted):\n\(sockets.output)")
        _ = try h.disconnect("lab")
    }

    func testInvalidSettingsAreRefusedAndChangeNothing() throws {
        let h = try TunnelLab(test: self)
        let before = try h.networkStateA()
        let cases: [(String, [String: String], String)] = [
            ("tiny-mtu", ["mtu": "40"], "mtu_out_of_range"),
            ("huge-mtu", ["mtu": "70000"], "mtu_out_of_range"),
            ("overlap", ["routes": "10.99.0.0/24,10.99.0.0/16"], "overlaps"),
            ("bad-prefix", ["routes": "10.99.0.1/24"], "invalid_prefix"),
            ("bad-address", ["address": "10.77.0.300/24"], "invalid_address"),
            ("wrong-family", ["routes": "fd00::/64"], "wrong_family"),
            ("bad-dns", ["dns": "not-an-address"], "invalid_dns"),
            ("excluded-alone", ["excluded": "10.98.0.0/24"], "requires_full_tunnel"),
        ]
        for (name, options, reason) in cases {
            try h.saveProfile(name, options: options)
            let error = TunnelLab.remoteError { try h.connect(name) }
            XCTAssertEqual(error?.name, "io.culvert.Manager.ConnectFailed", name)
            XCTAssertEqual(error?.parameters["reason"]?.stringValue, "start_failed", name)
            let description = error?.parameters["description"]?.stringValue ?? ""
            XCTAssertTrue(description.contains(reason), "\(name): \(description)")
            XCTAssertTrue(error?.parameters["log"]?.stringList.contains { $0.contains("settings refused") } ?? false, name)
            try h.assertNetworkState(equals: before, name)
        }
    }

    func testInjectedFailureMidwayRollsBackEverything() throws {
        // Steps: address, link up, route, route — step 3 fails after the address, the link and one route were applied.
        let h = try TunnelLab(test: self, daemonArguments: ["--test-fail-settings-at-step", "3"])
        try h.saveProfile("midway", options: ["routes": "10.99.0.0/24,10.98.0.0/24"])
        let before = try h.networkStateA()
        let error = TunnelLab.remoteError { try h.connect("midway") }
        XCTAssertEqual(error?.name, "io.culvert.Manager.ConnectFailed")
        XCTAssertTrue((error?.parameters["description"]?.stringValue ?? "").contains("injected"), "\(String(describing: error))")
        try h.assertNetworkState(equals: before)
    }

    func testFailingProvidersGiveTypedReasonsWithTheirLog() throws {
        let h = try TunnelLab(test: self, startPeer: false)
        let cases: [(String, String, String, (JSONValue) -> Bool)] = [
            ("crash-on-start", "provider_crashed", "about to crash", { $0["signal"]?.stringValue == "SIGABRT" }),
            ("exit-on-start", "provider_exited", "exiting with status 0", { $0["exitStatus"]?.intValue == 0 }),
            ("hang-on-start", "start_timeout", "never finishing", { _ in true }),
        ]
        let before = try h.networkStateA()
        for (behaviour, reason, line, extra) in cases {
            try h.saveProfile(behaviour, options: ["behaviour": behaviour])
            let error = TunnelLab.remoteError { try h.connect(behaviour) }
            XCTAssertEqual(error?.name, "io.culvert.Manager.ConnectFailed", behaviour)
            XCTAssertEqual(error?.parameters["reason"]?.stringValue, reason, behaviour)
            XCTAssertTrue(
                error?.parameters["log"]?.stringList.contains { $0.contains(line) } ?? false, "\(behaviour): \(String(describing: error))")
            let session = try XCTUnwrap(try h.session(behaviour))
            XCTAssertEqual(session["state"]?.stringValue, "disconnected", "the reply comes after the teardown: \(behaviour)")
            let failure = try XCTUnwrap(session["failure"], behaviour)
            XCTAssertEqual(failure["reason"]?.stringValue, reason, behaviour)
            XCTAssertTrue(extra(failure), "\(behaviour): \(failure.jsonString)")
            XCTAssertTrue(failure["log"]?.stringList.contains { $0.contains(line) } ?? false, behaviour)
        }
        try h.assertNetworkState(equals: before)
    }

    func testAlwaysOnProfileRestartsWithBackoff() throws {
        let h = try TunnelLab(test: self)
        let watcher = try h.daemon.connect()
        try watcher.startWatch()
        _ = try watcher.nextEvent()  // snapshot
        try h.saveProfile("sticky", options: ["behaviour": "exit-after-start"], alwaysOn: true)
        try h.connect("sticky")
        // Collect session_state events until the third restart is scheduled (bounded by count and time).
        var delays: [Double] = []
        var reasons: [String] = []
        let deadline = Date().addingTimeInterval(30)
        while delays.count < 3 && Date() < deadline {
            let event = try watcher.nextEvent()
            guard event["kind"]?.stringValue == "session_state", event["session"]?["profile"]?.stringValue == "sticky" else { continue }
            reasons.append(event["reason"]?.stringValue ?? "")
            if event["reason"]?.stringValue == "restart_scheduled" {
                let time = try XCTUnwrap(Self.date(event["time"]?.stringValue))
                let due = try XCTUnwrap(Self.date(event["session"]?["nextRestartAt"]?.stringValue))
                delays.append(due.timeIntervalSince(time))
                XCTAssertEqual(event["session"]?["failure"]?["reason"]?.stringValue, "provider_exited")
                XCTAssertEqual(event["session"]?["failure"]?["exitStatus"]?.intValue, 3)
            }
        }
        XCTAssertEqual(delays.count, 3, "reasons seen: \(reasons)")
        // 0.3 s, 0.6 s, then capped at 1.2 s (±50 ms of timestamp rounding).
        for (delay, expected) in zip(delays, [0.3, 0.6, 1.2]) { XCTAssertEqual(delay, expected, accuracy: 0.05, "\(delays)") }
        XCTAssertTrue(reasons.contains("restart"), "\(reasons)")
        _ = try h.disconnect("sticky")
        let session = try h.waitForSession("sticky") { $0["state"]?.stringValue == "disconnected" && $0["nextRestartAt"] == nil }
        XCTAssertEqual(session?["state"]?.stringValue, "disconnected")
    }

    func testProviderMessagesRoundTripAndFailTypedWhenTheProviderIsGone() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("chat")
        let reply = try h.connect("chat")
        let answer = try h.control.call(
            "io.culvert.Manager.SendProviderMessage",
            ["profile": .string("chat"), "data": .string(Data("hello".utf8).base64EncodedString())],
            timeoutMilliseconds: replyTimeoutMilliseconds)
        let decoded = Data(base64Encoded: answer["data"]?.stringValue ?? "").map { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(decoded, "echo: hello")
        let pid = try XCTUnwrap(reply["session"]?["pid"]?.intValue)
        kill(pid_t(pid), SIGKILL)
        let start = Date()
        let error = TunnelLab.remoteError {
            try h.control.call(
                "io.culvert.Manager.SendProviderMessage", ["profile": .string("chat"), "data": .string("aGk=")],
                timeoutMilliseconds: replyTimeoutMilliseconds)
        }
        XCTAssertTrue(
            ["io.culvert.Manager.ProviderUnavailable", "io.culvert.Manager.ProviderMessageFailed"].contains(error?.name ?? ""),
            "\(String(describing: error))")
        XCTAssertLessThan(Date().timeIntervalSince(start), 9, "a message to a dead provider must not wait for the timeout")
        let session = try h.waitForSession("chat") { $0["state"]?.stringValue == "disconnected" }
        XCTAssertEqual(session?["failure"]?["reason"]?.stringValue, "provider_crashed")
        XCTAssertEqual(session?["failure"]?["signal"]?.stringValue, "SIGKILL")
        let gone = TunnelLab.remoteError {
            try h.control.call(
                "io.culvert.Manager.SendProviderMessage", ["profile": .string("chat"), "data": .string("aGk=")],
                timeoutMilliseconds: replyTimeoutMilliseconds)
        }
        XCTAssertEqual(gone?.name, "io.culvert.Manager.ProviderUnavailable")
        XCTAssertEqual(gone?.parameters["state"]?.stringValue, "disconnected")
    }

    func testTwentyCyclesLeaveDescriptorsAndNetworkAtBaseline() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("cycle", options: ["routes": "10.99.0.0/24"])
        // One cycle first, so lazily opened descriptors (netlink socket) are part of the baseline.
        try h.connect("cycle")
        try h.disconnect("cycle")
        // Descriptors are closed by Dispatch cancel handlers a moment after a reply: settle first.
        var descriptors = h.daemonDescriptorCount
        for _ in 0..<50 {
            usleep(100_000)
            let now = h.daemonDescriptorCount
            if now == descriptors { break }
            descriptors = now
        }
        let state = try h.networkStateA()
        for cycle in 0..<20 {
            let up = try h.connect("cycle")
            XCTAssertEqual(up["session"]?["state"]?.stringValue, "connected", "cycle \(cycle)")
            let down = try h.disconnect("cycle")
            XCTAssertEqual(down["session"]?["state"]?.stringValue, "disconnected", "cycle \(cycle)")
        }
        // Descriptors are closed by Dispatch cancel handlers, a moment after the reply: wait (bounded).
        let deadline = Date().addingTimeInterval(3)
        while h.daemonDescriptorCount > descriptors && Date() < deadline { usleep(20_000) }
        XCTAssertLessThanOrEqual(h.daemonDescriptorCount, descriptors, "culvertd holds more descriptors than before the cycles")
        try h.assertNetworkState(equals: state)
    }

    func testUninstallAndProfileRemovalStopRunningSessions() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("kept")
        try h.connect("kept")
        let refused = TunnelLab.remoteError {
            try h.control.call(
                "io.culvert.Manager.UninstallExtension", ["identifier": .string(TunnelLab.extensionIdentifier)],
                timeoutMilliseconds: replyTimeoutMilliseconds)
        }
        XCTAssertEqual(refused?.name, "io.culvert.Manager.ExtensionInUse")
        XCTAssertEqual(refused?.parameters["profiles"]?.stringList, ["kept"])
        XCTAssertEqual(try h.session("kept")?["state"]?.stringValue, "connected", "a refused uninstall changes nothing")

        // Removing the profile stops its session, which then can never run again: invalid.
        _ = try h.control.call("io.culvert.Manager.RemoveProfile", ["name": .string("kept")], timeoutMilliseconds: replyTimeoutMilliseconds)
        let invalid = try h.waitForSession("kept") { $0["state"]?.stringValue == "invalid" }
        XCTAssertEqual(invalid?["state"]?.stringValue, "invalid")
        XCTAssertEqual(invalid?["reason"]?.stringValue, "profile_removed")

        try h.saveProfile("other")
        try h.connect("other")
        _ = try h.control.call(
            "io.culvert.Manager.UninstallExtension", ["identifier": .string(TunnelLab.extensionIdentifier), "force": .bool(true)],
            timeoutMilliseconds: replyTimeoutMilliseconds)
        let stopped = try h.waitForSession("other") { $0["state"]?.stringValue == "disconnected" }
        XCTAssertEqual(stopped?["reason"]?.stringValue, "extension_removed")
        XCTAssertNil(stopped?["pid"]?.intValue)
    }

    func testReassertingAndCancelAreReportedAsTransitions() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("wobbly")
        try h.connect("wobbly")
        let watcher = try h.daemon.connect()
        try watcher.startWatch()
        _ = try watcher.nextEvent()  // snapshot
        func message(_ text: String) throws -> String {
            let reply = try h.control.call(
                "io.culvert.Manager.SendProviderMessage",
                ["profile": .string("wobbly"), "data": .string(Data(text.utf8).base64EncodedString())],
                timeoutMilliseconds: replyTimeoutMilliseconds)
            return Data(base64Encoded: reply["data"]?.stringValue ?? "").map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        XCTAssertEqual(try message("reassert"), "reasserted")
        XCTAssertEqual(try message("cancel"), "cancelling")
        var transitions: [String] = []
        let deadline = Date().addingTimeInterval(10)
        while !transitions.contains(where: { $0.hasSuffix("→disconnected") }) && Date() < deadline {
            let event = try watcher.nextEvent()
            guard event["kind"]?.stringValue == "session_state" else { continue }
            transitions.append("\(event["previousState"]?.stringValue ?? "?")→\(event["session"]?["state"]?.stringValue ?? "?")")
        }
        XCTAssertEqual(
            transitions, ["connected→reasserting", "reasserting→connected", "connected→disconnecting", "disconnecting→disconnected"])
        let session = try XCTUnwrap(try h.session("wobbly"))
        XCTAssertEqual(session["reason"]?.stringValue, "provider_cancelled")
        XCTAssertEqual(session["failure"]?["description"]?.stringValue, "the test asked the provider to give up")
    }

    func testChangesMadeByOthersToASessionsInterfaceAreReported() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("watched", options: ["mtu": "1400"])
        let watcher = try h.daemon.connect()
        try watcher.startWatch()
        _ = try watcher.nextEvent()  // snapshot
        let interface = try XCTUnwrap(try h.connect("watched")["session"]?["interface"]?.stringValue)
        try h.namespaces.ip(in: h.namespaces.a, ["link", "set", interface, "mtu", "1300"])
        try h.namespaces.ip(in: h.namespaces.a, ["addr", "del", TunnelLab.tunnelAddressA + "/24", "dev", interface])
        try h.namespaces.ip(in: h.namespaces.a, ["link", "set", interface, "down"])
        var reasons: [String] = []
        let deadline = Date().addingTimeInterval(10)
        while reasons.count < 3 && Date() < deadline {
            let event = try watcher.nextEvent()
            guard event["kind"]?.stringValue == "session_network_changed" else { continue }
            XCTAssertEqual(event["session"]?["profile"]?.stringValue, "watched")
            reasons.append(event["reason"]?.stringValue ?? "?")
        }
        XCTAssertEqual(reasons, ["mtu_changed", "address_removed", "link_down"])
    }

    func testGarbageCollectionKeepsTheCopyARunningProviderRunsFrom() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("kept")
        let pid = try XCTUnwrap(try h.connect("kept")["session"]?["pid"]?.intValue)
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
        // The package that installed the bundle goes away: gc drops the registration…
        let list = try h.control.call("io.culvert.Manager.ListExtensions", [:], timeoutMilliseconds: replyTimeoutMilliseconds)
        guard case .array(let installed)? = list["extensions"], let source = installed.first?["source"]?.stringValue else {
            return XCTFail(list.jsonString)
        }
        try FileManager.default.removeItem(atPath: source)
        let gc = try h.control.call("io.culvert.Manager.CollectGarbage", [:], timeoutMilliseconds: replyTimeoutMilliseconds)
        guard case .array(let removals)? = gc["removals"] else { return XCTFail("no removals: \(gc.jsonString)") }
        XCTAssertTrue(removals.contains { $0["kind"]?.stringValue == "orphaned_registration" }, gc.jsonString)
        // …but not the store copy the running provider was started from.
        XCTAssertFalse(removals.contains { $0["kind"]?.stringValue == "store_copy" }, gc.jsonString)
        XCTAssertTrue(FileManager.default.fileExists(atPath: executable), executable)
        XCTAssertEqual(try h.session("kept")?["state"]?.stringValue, "connected")
    }

    static func date(_ text: String?) -> Date? {
        guard let text else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}
