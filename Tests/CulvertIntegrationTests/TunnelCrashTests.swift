// Tunnels across a culvertd crash (contract 11): a crashed daemon's providers keep their tunnels
// and are re-adopted by the next culvertd, and what a crashed daemon left behind with no provider
// to re-adopt is removed.

import CulvertCore
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class TunnelCrashTests: XCTestCase {
    func testARestartedDaemonRemovesWhatACrashedOneLeft() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("orphan", options: ["routes": "0.0.0.0/0", "dns": "10.77.0.53"])
        let resolvBefore = try String(contentsOfFile: h.resolvConf, encoding: .utf8)
        let before = try h.networkStateA()
        let reply = try h.connect("orphan")
        let pid = try XCTUnwrap(reply["session"]?["pid"]?.intValue)
        h.daemon.crash()
        // The provider dies too while no culvertd runs: the TUN (and its routes) go with it; the
        // policy rules and the rewritten resolv.conf stay behind for the next culvertd to remove.
        kill(pid_t(pid), SIGKILL)
        let deadline = Date().addingTimeInterval(10)
        while FileManager.default.fileExists(atPath: "/proc/\(pid)") && Date() < deadline { usleep(20_000) }
        let leftovers = try h.namespaces.ip(in: h.namespaces.a, ["-j", "-4", "rule", "show"])
        XCTAssertTrue(leftovers.contains("\"protocol\":\"156\""), leftovers)
        XCTAssertNotEqual(try String(contentsOfFile: h.resolvConf, encoding: .utf8), resolvBefore)
        try h.daemon.start()
        try h.assertNetworkState(equals: before)
        XCTAssertEqual(try String(contentsOfFile: h.resolvConf, encoding: .utf8), resolvBefore)
        let status = try h.daemon.connect().call("io.culvert.Manager.GetStatus", [:], timeoutMilliseconds: replyTimeoutMilliseconds)
        XCTAssertEqual(status["status"]?["sessions"], .array([]), "nothing to re-adopt")
    }

    func testACrashedDaemonsProvidersKeepTheTunnelAndAreReadopted() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("sturdy", options: ["routes": "0.0.0.0/0", "dns": "10.77.0.53"])
        let resolvBefore = try String(contentsOfFile: h.resolvConf, encoding: .utf8)
        let before = try h.networkStateA()
        let reply = try h.connect("sturdy")
        let pid = try XCTUnwrap(reply["session"]?["pid"]?.intValue)
        let interface = try XCTUnwrap(reply["session"]?["interface"]?.stringValue)
        let connected = try h.networkStateA()

        h.daemon.crash()
        // No culvertd: the provider keeps its TUN, its settings stay, traffic still flows.
        XCTAssertTrue(FileManager.default.fileExists(atPath: "/proc/\(pid)"), "the provider died with culvertd")
        let during = try h.inA(["ping", "-c", "2", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(during.status, 0, during.output + during.error)
        try h.assertNetworkState(equals: connected, "while culvertd is down")

        let started = Date()
        try h.daemon.start()
        let control = try h.daemon.connect()
        let status = try control.call("io.culvert.Manager.GetStatus", [:], timeoutMilliseconds: replyTimeoutMilliseconds)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2.0, "re-adoption (and the daemon start) within 2 s")
        guard case .array(let sessions)? = status["status"]?["sessions"] else { return XCTFail("no sessions") }
        let session = try XCTUnwrap(sessions.first { $0["profile"]?.stringValue == "sturdy" })
        XCTAssertEqual(session["state"]?.stringValue, "connected")
        XCTAssertEqual(session["reason"]?.stringValue, "readopted")
        XCTAssertEqual(session["pid"]?.intValue, pid)
        XCTAssertEqual(session["interface"]?.stringValue, interface)
        XCTAssertEqual(session["fullTunnel"]?.boolValue, true)
        XCTAssertEqual(session["dnsServers"]?.stringList, ["10.77.0.53"])
        try h.assertNetworkState(equals: connected, "after re-adoption nothing was re-applied or removed")

        // The channel works again: a message is answered, and the provider's output reaches the new log.
        let answer = try control.call(
            "io.culvert.Manager.SendProviderMessage",
            ["profile": .string("sturdy"), "data": .string(Data("again".utf8).base64EncodedString())],
            timeoutMilliseconds: replyTimeoutMilliseconds)
        XCTAssertEqual(Data(base64Encoded: answer["data"]?.stringValue ?? "").map { String(decoding: $0, as: UTF8.self) }, "echo: again")
        let after = try h.inA(["ping", "-c", "2", "-i", "0.2", "-W", "2", TunnelLab.behindPeer])
        XCTAssertEqual(after.status, 0, after.output + after.error)
        let deadline = Date().addingTimeInterval(5)
        var log: [String] = []
        while !log.contains(where: { $0.contains("message: again") }) && Date() < deadline {
            let reply = try control.call(
                "io.culvert.Manager.GetSessionLog", ["profile": .string("sturdy")], timeoutMilliseconds: replyTimeoutMilliseconds)
            log = reply["lines"]?.stringList ?? []
            usleep(50_000)
        }
        XCTAssertTrue(log.contains { $0.contains("message: again") }, log.joined(separator: "\n"))

        // And it comes down cleanly: everything the first culvertd applied is taken away by the second.
        _ = try control.call("io.culvert.Manager.Disconnect", ["profile": .string("sturdy")], timeoutMilliseconds: 20_000)
        try h.assertNetworkState(equals: before)
        XCTAssertEqual(try String(contentsOfFile: h.resolvConf, encoding: .utf8), resolvBefore)
        // Gone, or a zombie waiting for its parent (it is not this culvertd's child).
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""  // try?: gone entirely
        XCTAssertTrue(stat.isEmpty || stat.contains(") Z "), stat)
    }
}
