// WireGuardTimerTests: culvert-wireguard ↔ culvert-wireguard (WireGuardCulvertPair: a culvertd in
// each namespace) on the test-only timer presets (`test-timers`, debug builds only): rekey after
// time and after messages under a bounded ping flood that loses nothing, and reject-after-time
// with traffic stopped (whitepaper §6.1–6.4). Each figure is read from both providers' `status`.
// Roaming is in WireGuardRoamingTests. Root; private namespaces torn down even when a test fails.

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class WireGuardTimerTests: XCTestCase {
    /// Seconds ping waits for each reply (the first waits for a handshake).
    static let pingWait = "5"

    func testRekeyAfterTimeLosesNoPing() throws {
        let pair = try makePair(timers: "shortened")
        try ping(pair, from: .a, count: 3)
        let before = (a: try pair.peerStatus(.a), b: try pair.peerStatus(.b))
        XCTAssertGreaterThanOrEqual(before.a["sessionsDerived"] as? Int ?? 0, 1, pair.logs)

        // 600 pings over ~6 s: REKEY_AFTER_TIME is 1.2 s, so A (the initiator) renews its session
        // about four times while the flood runs; every echo must come back.
        let flood = try ping(pair, from: .a, count: 600, interval: "0.01")
        XCTAssertEqual(flood.received, 600, flood.output + pair.logs)

        let after = (a: try pair.peerStatus(.a), b: try pair.peerStatus(.b))
        let derivedA = (after.a["sessionsDerived"] as? Int ?? 0) - (before.a["sessionsDerived"] as? Int ?? 0)
        let derivedB = (after.b["sessionsDerived"] as? Int ?? 0) - (before.b["sessionsDerived"] as? Int ?? 0)
        XCTAssertGreaterThanOrEqual(derivedA, 2, "A rekeyed after time: \(after.a)")
        XCTAssertGreaterThanOrEqual(derivedB, 2, "B took part in each rekey: \(after.b)")
        XCTAssertGreaterThanOrEqual(
            (after.a["handshakesInitiated"] as? Int ?? 0) - (before.a["handshakesInitiated"] as? Int ?? 0), 2, "A initiated the rekeys")
        XCTAssertGreaterThan(after.b["latestHandshake"] as? Int ?? 0, before.b["latestHandshake"] as? Int ?? 0, "B saw a new handshake")
        try assertNoAuthenticationDrops(pair)
    }

    func testRekeyAfterMessagesLosesNoPing() throws {
        // The whitepaper's session lifetimes (nothing rekeys by age within the test) with
        // REKEY_AFTER_MESSAGES 1000, REJECT_AFTER_MESSAGES 2000 and REKEY_TIMEOUT 50 ms.
        let pair = try makePair(timers: "shortened-messages")
        try ping(pair, from: .a, count: 3)
        let before = (a: try pair.peerStatus(.a), b: try pair.peerStatus(.b))

        let flood = try ping(pair, from: .a, count: 4500, interval: "0.002")
        XCTAssertEqual(flood.received, 4500, flood.output + pair.logs)

        let after = (a: try pair.peerStatus(.a), b: try pair.peerStatus(.b))
        // 4500 messages each way on sessions good for 1000: at least three new sessions (both
        // sides count each one; both may initiate a rekey at once), none of them reaching
        // REJECT_AFTER_MESSAGES (a ping would be lost), and no rekey by age.
        for (side, before, after) in [("A", before.a, after.a), ("B", before.b, after.b)] {
            let derived = (after["sessionsDerived"] as? Int ?? 0) - (before["sessionsDerived"] as? Int ?? 0)
            XCTAssertGreaterThanOrEqual(derived, 3, "\(side): a new session per 1000 messages: \(after)")
        }
        try assertNoAuthenticationDrops(pair)
    }

    func testRejectAfterTimeStopsUsingTheSessionAndZeroesKeys() throws {
        let pair = try makePair(timers: "shortened")
        try ping(pair, from: .a, count: 3)
        let first = try pair.peerStatus(.b)

        // Traffic stopped for longer than REJECT_AFTER_TIME (1.8 s): B must not send on the old
        // session (§6.2); its next packet waits for a handshake B initiates itself.
        Thread.sleep(forTimeInterval: 2.5)
        try ping(pair, from: .b, count: 1)
        // (B may also have initiated once right after the first pings, when A's keepalive came later
        // than KEEPALIVE_TIMEOUT + REKEY_TIMEOUT; that session is as expired by now.)
        let second = try pair.peerStatus(.b)
        XCTAssertGreaterThanOrEqual(
            (second["handshakesInitiated"] as? Int ?? 0) - (first["handshakesInitiated"] as? Int ?? 0), 1,
            "B refused its expired session and initiated: \(second)")
        XCTAssertGreaterThanOrEqual(
            (second["sessionsDerived"] as? Int ?? 0) - (first["sessionsDerived"] as? Int ?? 0), 1, "a new session: \(second)")

        // With traffic stopped again, 3 × REJECT_AFTER_TIME without a new session wipes every key on both sides.
        for side in WireGuardCulvertPair.Side.allCases {
            let zeroed = try waitForLog(pair, side, containing: "keys zeroed")
            XCTAssertTrue(zeroed, "\(side) zeroed its keys" + pair.logs)
        }
        // Nothing is left to send on: A's next packet starts a new handshake, and gets through.
        let initiated = try pair.peerFigure(.a, "handshakesInitiated")
        try ping(pair, from: .a, count: 1)
        XCTAssertEqual(try pair.peerFigure(.a, "handshakesInitiated"), initiated + 1, "a new handshake after the keys were zeroed")
        try assertNoAuthenticationDrops(pair)
    }

    // MARK: helpers

    /// A pair on the lab's namespaces with `test-timers=timers` in both profiles, both connected;
    /// checks both providers run the preset.
    private func makePair(timers: String) throws -> WireGuardCulvertPair {
        let lab = try TunnelLab(test: self, startPeer: false)
        let pair = try WireGuardCulvertPair(lab: lab, options: [WireGuardCulvertPair.testTimersOption: timers])
        addTeardownBlock { pair.tearDown() }
        try pair.connectBoth()
        for side in WireGuardCulvertPair.Side.allCases {
            XCTAssertEqual(try pair.session(side)?["state"]?.stringValue, "connected", "\(side)" + pair.logs)
            let log = try pair.sessionLog(side).joined(separator: "\n")
            XCTAssertTrue(log.contains("test-only timers in force: \(timers)"), "\(side): \(log)")
        }
        return pair
    }
}

/// What a finished ping reported.
struct PingOutcome {
    var transmitted: Int
    var received: Int
    var output: String
}

extension XCTestCase {
    /// `ping` from `side` to the other side's tunnel address; fails the test unless every reply came back
    /// when `count` is small (a flood's losses are the caller's to judge).
    @discardableResult
    func ping(
        _ pair: WireGuardCulvertPair, from side: WireGuardCulvertPair.Side, count: Int, interval: String? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> PingOutcome {
        let target = WireGuardCulvertPair.tunnelAddress(WireGuardCulvertPair.other(side))
        var command = ["ping", "-q", "-c", String(count), "-W", WireGuardTimerTests.pingWait]
        if let interval { command += ["-i", interval] }
        let result = try pair.run(in: side, command + [target], timeout: 120)
        let outcome = PingOutcome(
            transmitted: Self.figure(in: result.output, before: " packets transmitted"),
            received: Self.figure(in: result.output, before: " received"), output: result.output + result.error)
        if interval == nil {
            XCTAssertEqual(outcome.received, count, "ping from \(side): \(outcome.output)" + pair.logs, file: file, line: line)
        }
        return outcome
    }

    /// The number right before `marker` in ping's summary ("600 packets transmitted, 600 received"); -1 if absent.
    static func figure(in text: String, before marker: String) -> Int {
        guard let range = text.range(of: marker) else { return -1 }
        let digits = text[..<range.lowerBound].reversed().prefix { $0.isNumber }
        return Int(String(digits.reversed())) ?? -1
    }

    /// Neither provider dropped a transport message that failed to authenticate or was replayed,
    /// nor one on an expired session.
    /// `allowingReplays`: a test that replays a message itself expects `replayedCounter`.
    func assertNoAuthenticationDrops(
        _ pair: WireGuardCulvertPair, allowingReplays: Bool = false, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        for side in WireGuardCulvertPair.Side.allCases {
            let drops = try pair.status(side)["drops"] as? [String: Int] ?? [:]
            for reason in ["authenticationFailed", "replayedCounter", "expiredSession", "handshakeFailed"]
            where !(allowingReplays && reason == "replayedCounter") {
                XCTAssertNil(drops[reason], "\(side) dropped: \(drops)", file: file, line: line)
            }
        }
    }

    /// Polls `side`'s session log (bounded) for a line containing `text`.
    func waitForLog(_ pair: WireGuardCulvertPair, _ side: WireGuardCulvertPair.Side, containing text: String, timeout: TimeInterval = 20)
        throws -> Bool
    {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try pair.sessionLog(side).contains(where: { $0.contains(text) }) { return true }
            usleep(100_000)
        }
        return false
    }
}
