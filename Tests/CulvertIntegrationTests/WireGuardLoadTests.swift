// WireGuardLoadTests: culvert-wireguard under a handshake flood (whitepaper §5.3, §5.4.7), between
// two of our providers (WireGuardCulvertPair: a culvertd in each namespace, test-only shortened
// timers so B retries its initiation after 50 ms). Bounded floods of initiations with a valid mac1
// for A's key (from B's address, another port): first as fast as one process sends — A goes under
// load, `status` says so and counts the cookie replies, A survives with bounded memory; then paced
// (still over twice the threshold) — B's initiation gets a cookie reply, B's retry carries mac2 and A
// answers it, so the ping goes through during the flood. After both A leaves the load and answers
// pings. Root; private namespaces torn down even when the test fails.

import CulvertBundle
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class WireGuardLoadTests: XCTestCase {
    /// The flood's bounds: seconds and datagrams; datagrams sent before the test looks at A.
    static let floodSeconds = 3
    static let pacedSeconds = 8
    static let floodMaximum = 4_000_000
    static let floodLead = 20_000
    static let pacedLead = 2_000
    /// The paced flood's rate (datagrams per second): over twice the load threshold (64 per 100
    /// ms), and far below what A answers on this shared machine (about 20,000 cookie replies a
    /// second measured), so no kernel queue builds and B's cookie comes back before its next retry
    /// (50 ms) even when the machine is busy.
    static let pacedRate = 1_500
    /// How much A's cgroup memory may grow during the full-rate flood (the device keeps nothing
    /// per flooding message: a fixed load window, counters, one reply at a time).
    static let memoryGrowthBound = 32 << 20

    func testUnderAFloodTheProviderAnswersWithCookiesAndOurPeerCompletesWithMac2() throws {
        try floodAndHandshake(capabilities: [])
    }

    /// The same with the offloading data plane (a TUN with virtio_net_hdr, batches of 64, UDP GRO).
    func testUnderAFloodTheOffloadingProviderAnswersWithCookiesToo() throws {
        try floodAndHandshake(capabilities: [.tunOffload])
    }

    private func floodAndHandshake(capabilities: [BundleCapability]) throws {
        let lab = try TunnelLab(test: self, startPeer: false)
        let pair = try WireGuardCulvertPair(
            lab: lab, options: [WireGuardCulvertPair.testTimersOption: "shortened"], capabilities: capabilities)
        addTeardownBlock { pair.tearDown() }
        try pair.connectBoth()
        let before = try pair.session(.a)
        let pid = before?["pid"]?.intValue
        XCTAssertNotNil(pid, pair.logs)
        let memoryBefore = before?["containment"]?["memoryBytes"]?.intValue.map { Int($0) }
        let quiet = try pair.status(.a)
        XCTAssertEqual(quiet["underLoad"] as? Bool, false, "\(quiet)")
        XCTAssertEqual(quiet["cookieRepliesSent"] as? Int, 0, "\(quiet)")
        XCTAssertEqual(try pair.peerFigure(.b, "sessionsDerived"), 0, "no handshake before the flood")

        // 1. As fast as one process sends: A goes under load, answers what it reads, sheds the
        // rest of each batch, and survives with bounded memory.
        let full = try flood(pair, seconds: Self.floodSeconds, lead: Self.floodLead, rate: 0)
        defer { full.kill() }
        _ = try full.waitForLine { $0.hasPrefix("deep") }
        let loaded = try waitForStatus(pair, .a) { $0["underLoad"] as? Bool == true }
        XCTAssertEqual(loaded["underLoad"] as? Bool, true, "the flood put A under load: \(loaded)")
        let fullDone = try full.wait()
        XCTAssertEqual(fullDone.status, 0, fullDone.stdout + fullDone.stderr)
        let afterFull = try pair.status(.a)
        XCTAssertGreaterThan(afterFull["cookieRepliesSent"] as? Int ?? 0, 1, "the flood got cookie replies: \(afterFull)")
        XCTAssertGreaterThanOrEqual(afterFull["overloadedWindows"] as? Int ?? 0, 1, "\(afterFull)")
        let drops = afterFull["drops"] as? [String: Int] ?? [:]
        XCTAssertNil(drops["invalidMAC1"], "every flood message had a valid mac1: \(drops)")
        let session = try pair.session(.a)
        XCTAssertEqual(session?["state"]?.stringValue, "connected", pair.logs)
        XCTAssertEqual(session?["pid"]?.intValue, pid, "A's provider survived the flood")
        let memoryAfter = session?["containment"]?["memoryBytes"]?.intValue.map { Int($0) }
        if let memoryBefore, let memoryAfter {
            let growth: Int = memoryAfter - memoryBefore
            XCTAssertLessThan(growth, Self.memoryGrowthBound, "A's memory: \(memoryBefore) → \(memoryAfter) bytes")
        }
        print(
            "load: full-rate flood \(fullDone.stdout.split(separator: "\n").last ?? "?"); A: \(afterFull); "
                + "cgroup memory \(memoryBefore.map(String.init) ?? "?") → \(memoryAfter.map(String.init) ?? "?") bytes")

        // 2. A paced flood keeps A under load; B's first initiation gets a cookie, its retry
        // carries mac2 and A answers it: the ping goes through during the flood.
        let paced = try flood(pair, seconds: Self.pacedSeconds, lead: Self.pacedLead, rate: Self.pacedRate)
        defer { paced.kill() }
        _ = try paced.waitForLine { $0.hasPrefix("deep") }
        let pacedLoad = try waitForStatus(pair, .a) { $0["underLoad"] as? Bool == true }
        XCTAssertEqual(pacedLoad["underLoad"] as? Bool, true, "the paced flood keeps A under load: \(pacedLoad)")
        let repliesBefore = pacedLoad["cookieRepliesSent"] as? Int ?? 0
        let answered = try pair.run(in: .b, ["ping", "-c", "3", "-i", "0.5", "-W", "5", WireGuardCulvertPair.tunnelAddressA], timeout: 60)
        let during = try pair.status(.a)
        XCTAssertEqual(during["underLoad"] as? Bool, true, "still under load after the ping: \(during)")
        let pacedDone = try paced.wait()
        XCTAssertEqual(pacedDone.status, 0, pacedDone.stdout + pacedDone.stderr)
        XCTAssertEqual(
            answered.status, 0, "a ping answered during the flood: " + answered.output + answered.error + "\n\(during)" + pair.logs)
        XCTAssertGreaterThan(during["cookieRepliesSent"] as? Int ?? 0, repliesBefore, "\(during)")
        let peerB = try pair.peerStatus(.b)
        XCTAssertGreaterThanOrEqual(peerB["cookieRepliesReceived"] as? Int ?? 0, 1, "A answered B with a cookie: \(peerB)")
        XCTAssertGreaterThanOrEqual(peerB["handshakesInitiated"] as? Int ?? 0, 2, "the cookie's initiation and the retry: \(peerB)")
        XCTAssertGreaterThanOrEqual(peerB["sessionsDerived"] as? Int ?? 0, 1, "\(peerB)")
        let peerA = try pair.peerStatus(.a)
        XCTAssertGreaterThanOrEqual(peerA["sessionsDerived"] as? Int ?? 0, 1, "A derived a session with B under load: \(peerA)")
        XCTAssertNil((try pair.status(.b)["drops"] as? [String: Int])?["invalidCookieReply"], "B opened every cookie reply")
        print("load: paced flood \(pacedDone.stdout.split(separator: "\n").last ?? "?"); A: \(during); B: \(peerB)")

        // 3. After the floods: A leaves the load within the hold time and answers both ways.
        let after = try waitForStatus(pair, .a) { $0["underLoad"] as? Bool == false }
        XCTAssertEqual(after["underLoad"] as? Bool, false, "\(after)")
        try ping(pair, from: .a, count: 3)
        try ping(pair, from: .b, count: 3)
        XCTAssertEqual(try pair.session(.a)?["pid"]?.intValue, pid, "A's provider is the same process")
    }

    /// Starts the flooder in B's namespace toward A's port, with a valid mac1 for A's key;
    /// `rate` 0: as fast as it can.
    private func flood(_ pair: WireGuardCulvertPair, seconds: Int, lead: Int, rate: Int) throws -> BackgroundCommand {
        try HandshakeFlooder.start(
            in: pair.lab.namespaces.b, publicKey: pair.publicKeyA, host: WireGuardCulvertPair.underlayAddress(.a),
            port: WireGuardCulvertPair.portA, seconds: seconds, maximum: Self.floodMaximum, lead: lead, rate: rate)
    }

    /// Polls `side`'s whole status until `predicate` holds (bounded); returns the last one read.
    private func waitForStatus(
        _ pair: WireGuardCulvertPair, _ side: WireGuardCulvertPair.Side, timeout: TimeInterval = 10, _ predicate: ([String: Any]) -> Bool
    ) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [String: Any] = [:]
        while Date() < deadline {
            last = try pair.status(side)
            if predicate(last) { return last }
            usleep(50_000)
        }
        return last
    }
}
