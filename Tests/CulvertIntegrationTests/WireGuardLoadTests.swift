// WireGuardLoadTests: culvert-wireguard under a handshake flood (whitepaper §5.3, §5.4.7), between
// two of our providers (WireGuardCulvertPair: a culvertd in each namespace, test-only shortened
// timers so B retries its initiation after 50 ms). A bounded flood of initiations with a valid mac1
// for A's key (WireGuardCookieTests' flooder, from B's address, another port) puts A's provider
// under load: `status` says so and counts the cookie replies it sends; B's initiation gets a cookie
// reply, B's retry carries mac2 and A answers it, so the ping goes through during the flood. After
// it A leaves the load, answers pings, is still the same process and its cgroup's memory did not
// grow without bound. Root; private namespaces torn down even when the test fails.

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class WireGuardLoadTests: XCTestCase {
    /// The flood's bounds: seconds, datagrams, and datagrams sent before the test looks at A.
    static let floodSeconds = 8
    static let floodMaximum = 4_000_000
    static let floodLead = 20_000
    /// How much A's cgroup memory may grow during the flood (the device keeps nothing per
    /// flooding message: a fixed load window, counters, one reply at a time).
    static let memoryGrowthBound = 32 << 20

    func testUnderAFloodTheProviderAnswersWithCookiesAndOurPeerCompletesWithMac2() throws {
        let lab = try TunnelLab(test: self, startPeer: false)
        let pair = try WireGuardCulvertPair(lab: lab, options: [WireGuardCulvertPair.testTimersOption: "shortened"])
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

        let flood = try BackgroundCommand(
            [
                NetworkNamespacePair.ipCommand, "netns", "exec", lab.namespaces.b, "python3", "-c", WireGuardCookieTests.flooder,
                pair.publicKeyA, WireGuardCulvertPair.underlayAddress(.a), String(WireGuardCulvertPair.portA), String(Self.floodSeconds),
                String(Self.floodMaximum), String(Self.floodLead),
            ])
        defer { flood.kill() }
        _ = try flood.waitForLine { $0.hasPrefix("deep") }
        let loaded = try waitForStatus(pair, .a) { $0["underLoad"] as? Bool == true }
        XCTAssertEqual(loaded["underLoad"] as? Bool, true, "the flood put A under load: \(loaded)")

        // During the flood: B's first initiation gets a cookie, a retry with mac2 the response.
        let answered = try pair.run(in: .b, ["ping", "-c", "3", "-i", "0.5", "-W", "5", WireGuardCulvertPair.tunnelAddressA], timeout: 60)
        let during = try pair.status(.a)
        let flooded = try flood.wait()
        XCTAssertEqual(flooded.status, 0, flooded.stdout + flooded.stderr)
        XCTAssertEqual(answered.status, 0, "a ping answered during the flood: " + answered.output + answered.error + "\n\(during)" + pair.logs)
        let peerB = try pair.peerStatus(.b)
        XCTAssertGreaterThanOrEqual(peerB["cookieRepliesReceived"] as? Int ?? 0, 1, "A answered B with a cookie: \(peerB)")
        XCTAssertGreaterThanOrEqual(peerB["handshakesInitiated"] as? Int ?? 0, 2, "the cookie's initiation and the retry: \(peerB)")
        XCTAssertGreaterThanOrEqual(peerB["sessionsDerived"] as? Int ?? 0, 1, "\(peerB)")
        let peerA = try pair.peerStatus(.a)
        XCTAssertGreaterThanOrEqual(peerA["sessionsDerived"] as? Int ?? 0, 1, "A derived a session with B under load: \(peerA)")
        print("load: flood \(flooded.stdout.split(separator: "\n").last ?? "?"); A during it: \(during); B: \(peerB)")

        // After the flood: A leaves the load within the hold time, answers, and is the same process.
        let after = try waitForStatus(pair, .a) { $0["underLoad"] as? Bool == false }
        XCTAssertEqual(after["underLoad"] as? Bool, false, "\(after)")
        XCTAssertGreaterThan(after["cookieRepliesSent"] as? Int ?? 0, 1, "the flood got cookie replies: \(after)")
        XCTAssertGreaterThanOrEqual(after["overloadedWindows"] as? Int ?? 0, 1, "\(after)")
        let drops = after["drops"] as? [String: Int] ?? [:]
        XCTAssertNil(drops["invalidMAC1"], "every flood message had a valid mac1: \(drops)")
        XCTAssertNil(drops["invalidCookieReply"], "\(drops)")
        XCTAssertNil(try pair.peerStatus(.b)["drops"], "peer entries carry no drops")
        XCTAssertNil((try pair.status(.b)["drops"] as? [String: Int])?["invalidCookieReply"], "B opened every cookie reply")
        try ping(pair, from: .a, count: 3)
        try ping(pair, from: .b, count: 3)
        let session = try pair.session(.a)
        XCTAssertEqual(session?["state"]?.stringValue, "connected", pair.logs)
        XCTAssertEqual(session?["pid"]?.intValue, pid, "A's provider survived the flood")
        let memoryAfter = session?["containment"]?["memoryBytes"]?.intValue.map { Int($0) }
        if let memoryBefore, let memoryAfter {
            let growth: Int = memoryAfter - memoryBefore
            XCTAssertLessThan(growth, Self.memoryGrowthBound, "A's memory: \(memoryBefore) → \(memoryAfter) bytes")
            print("load: A's cgroup memory \(memoryBefore) → \(memoryAfter) bytes")
        } else {
            print("load: no cgroup memory figure (containment without the memory controller)")
        }
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
