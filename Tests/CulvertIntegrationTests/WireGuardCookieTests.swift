// WireGuardCookieTests: the under-load half of the protocol against Debian's wireguard-go (issue 14
// acceptance). A bounded flood of handshake initiations with a valid mac1 (stdlib Python, inside
// namespace B, from B's own address) keeps wireguard-go's handshake queue deeper than
// QueueHandshakeSize/8 = 128 (wireguard-go device/receive.go, IsUnderLoad: then "under load" for
// UnderLoadAfterTime = 1 s more), so it answers initiations without a valid mac2 with a cookie
// reply. culvert-wireguard (test-only shortened timers: it retries after 50 ms instead of 5 s, while
// the flood still runs) must take the cookie, put mac2 on its next initiation and complete the
// handshake: the ping goes through, our status counts the cookie, B's latest handshake moves.
// Root; private namespaces torn down even when the test fails.

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class WireGuardCookieTests: XCTestCase {
    /// The flood's bounds: seconds, and datagrams.
    static let floodSeconds = 8
    static let floodMaximum = 4_000_000
    /// Initiations the flood sends before A starts its handshake (the queue is deep well before).
    static let floodLead = 50_000

    func testUnderLoadWireguardGoAnswersWithACookieAndTheHandshakeCompletes() throws {
        let tunnel = try TunnelLab(test: self, startPeer: false)
        let lab = try WireGuardLab(lab: tunnel)
        addTeardownBlock { lab.tearDown() }
        let options = [
            "address": "\(WireGuardLab.tunnelAddressA)/24", "listen-port": String(WireGuardLab.portA),
            "peer.0.public-key": lab.publicKeyB, "peer.0.endpoint": "\(NetworkNamespacePair.addressB):\(WireGuardLab.portB)",
            "peer.0.allowed-ips": "\(WireGuardLab.tunnelAddressB)/32", WireGuardCulvertPair.testTimersOption: "shortened",
        ]
        try lab.saveProfile(options: options)
        try tunnel.connect("wg")
        XCTAssertEqual(try tunnel.session("wg")?["state"]?.stringValue, "connected")
        XCTAssertEqual(try lab.latestHandshakeInB(), 0)

        let flood = try HandshakeFlooder.start(
            in: tunnel.namespaces.b, publicKey: lab.publicKeyB, host: NetworkNamespacePair.addressB, port: WireGuardLab.portB,
            seconds: Self.floodSeconds, maximum: Self.floodMaximum, lead: Self.floodLead)
        defer { flood.kill() }
        _ = try flood.waitForLine { $0.hasPrefix("deep") }

        let ping = try tunnel.inA(["ping", "-c", "2", "-W", "5", WireGuardLab.tunnelAddressB])
        let flooded = try flood.wait()
        XCTAssertEqual(ping.status, 0, ping.output + ping.error + tunnel.failureLog + lab.wireguardGoLog)
        XCTAssertEqual(flooded.status, 0, flooded.stdout + flooded.stderr)
        XCTAssertGreaterThan(try lab.latestHandshakeInB(), 0, "wireguard-go completed a handshake with A")

        let status = try tunnel.providerStatus()
        let peer = (status["peers"] as? [[String: Any]])?.first ?? [:]
        XCTAssertGreaterThanOrEqual(
            peer["cookieRepliesReceived"] as? Int ?? 0, 1, "wireguard-go under load answered with a cookie: \(peer)\n\(flooded.stdout)")
        XCTAssertGreaterThanOrEqual(
            peer["handshakesInitiated"] as? Int ?? 0, 2, "the first initiation got the cookie, a later one (with mac2) the response")
        XCTAssertGreaterThanOrEqual(peer["sessionsDerived"] as? Int ?? 0, 1, "\(peer)")
        print("cookie interop: flood \(flooded.stdout.split(separator: "\n").last ?? "?"), A: \(peer)")
        let drops = status["drops"] as? [String: Int] ?? [:]
        XCTAssertNil(drops["invalidCookieReply"], "every cookie reply opened: \(drops)")
    }
}
