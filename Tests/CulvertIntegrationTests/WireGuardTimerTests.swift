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
        // One echo (no rekey: the session is younger than REKEY_AFTER_TIME throughout); B's reply,
        // a transport message on that session, is captured on B's veth as it leaves.
        let capture = try BackgroundCommand(
            [
                NetworkNamespacePair.ipCommand, "netns", "exec", pair.lab.namespaces.b, "python3", "-c", Self.capturer, "veth-b",
                NetworkNamespacePair.addressB, NetworkNamespacePair.addressA, String(WireGuardCulvertPair.portA),
            ])
        defer { capture.kill() }
        _ = try capture.waitForLine { $0 == "ready" }
        try ping(pair, from: .a, count: 1)
        let captured = try capture.wait()
        let message = captured.stdoutLines.last ?? ""
        XCTAssertGreaterThan(message.count, 64, "a transport message was captured: \(captured.stdout) \(captured.stderr)")
        let first = try pair.peerStatus(.b)

        // Traffic stopped for longer than REJECT_AFTER_TIME (1.8 s). A refuses that message now
        // (§6.1: nothing is accepted on a session that old) although it is authentic and its key
        // is still held (it goes at 3 × REJECT_AFTER_TIME).
        Thread.sleep(forTimeInterval: 2.5)
        let replay = try pair.run(
            in: .b,
            ["python3", "-c", Self.sender, message, NetworkNamespacePair.addressA, String(WireGuardCulvertPair.portA)])
        XCTAssertEqual(replay.status, 0, replay.output + replay.error)
        var expired = 0
        for _ in 0..<100 where expired == 0 {
            expired = (try pair.status(.a)["drops"] as? [String: Int])?["expiredSession"] ?? 0
            if expired == 0 { usleep(50_000) }
        }
        let statusA = try pair.status(.a)
        XCTAssertEqual(expired, 1, "A refused the message on its expired session: \(statusA)")

        // And B must not send on its old session (§6.2): its next packet waits for a handshake B initiates itself.
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
        try assertNoAuthenticationDrops(pair, allowing: ["expiredSession"])
    }

    /// Captures (stdlib Python, at most 10 s) the first transport message carrying data from B to
    /// A's port as it leaves B's veth (ETH_P_ALL: only such a tap sees outgoing frames); prints
    /// "ready" once listening, then the message in hex.
    static let capturer = TransportSniffer.script(
        #"""
        import sys
        iface, b, a, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
        payload = first_transport(iface, b, a, port, 10, lambda: print("ready", flush=True))
        if payload is None:
            sys.exit(1)
        print(payload.hex(), flush=True)
        """#)

    /// Sends the hex datagram argv[1] to argv[2]:argv[3] from an ephemeral port.
    static let sender = #"""
        import socket, sys
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(bytes.fromhex(sys.argv[1]), (sys.argv[2], int(sys.argv[3])))
        """#

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
    /// `allowing`: reasons a test causes itself (a replayed message: `replayedCounter`).
    func assertNoAuthenticationDrops(
        _ pair: WireGuardCulvertPair, allowing: Set<String> = [], file: StaticString = #filePath, line: UInt = #line
    ) throws {
        for side in WireGuardCulvertPair.Side.allCases {
            let drops = try pair.status(side)["drops"] as? [String: Int] ?? [:]
            for reason in ["authenticationFailed", "replayedCounter", "expiredSession", "handshakeFailed"] where !allowing.contains(reason)
            {
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
