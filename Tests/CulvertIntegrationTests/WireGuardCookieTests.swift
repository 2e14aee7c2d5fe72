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
        let secrets = ["private-key": lab.privateKeyA, "peer.0.preshared-key": lab.presharedKey]
        _ = try tunnel.control.call(
            "io.culvert.Manager.SaveProfile",
            [
                "profile": [
                    "name": .string("wg"), "extension": .string(WireGuardLab.extensionIdentifier),
                    "options": .object(options.mapValues { .string($0) }), "alwaysOn": .bool(false),
                    "secrets": .object(secrets.mapValues { .string($0) }),
                ]
            ], timeoutMilliseconds: TunnelLab.callMilliseconds)
        try tunnel.connect("wg")
        XCTAssertEqual(try tunnel.session("wg")?["state"]?.stringValue, "connected")
        XCTAssertEqual(try lab.latestHandshakeInB(), 0)

        let flood = try BackgroundCommand(
            [
                NetworkNamespacePair.ipCommand, "netns", "exec", tunnel.namespaces.b, "python3", "-c", Self.flooder, lab.publicKeyB,
                NetworkNamespacePair.addressB, String(WireGuardLab.portB), String(Self.floodSeconds), String(Self.floodMaximum),
                String(Self.floodLead),
            ])
        defer { flood.kill() }
        _ = try flood.waitForLine { $0.hasPrefix("deep") }

        let ping = try tunnel.inA(["ping", "-c", "2", "-W", "5", WireGuardLab.tunnelAddressB])
        let flooded = try flood.wait()
        XCTAssertEqual(ping.status, 0, ping.output + ping.error + log(tunnel) + lab.wireguardGoLog)
        XCTAssertEqual(flooded.status, 0, flooded.stdout + flooded.stderr)
        XCTAssertGreaterThan(try lab.latestHandshakeInB(), 0, "wireguard-go completed a handshake with A")

        let status = try statusOf(tunnel)
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

    /// The flooder (stdlib Python; bounded by seconds and count): initiations of random content
    /// with a correct mac1 for B's public key (BLAKE2s-128 keyed with BLAKE2s("mac1----" ‖ key),
    /// over the first 116 bytes) and no mac2, sent to B's port as fast as one process can. Prints
    /// "deep" after `lead` datagrams and "sent N" at the end.
    static let flooder = #"""
        import base64, hashlib, os, socket, sys, time
        key, host, port, seconds, maximum, lead = base64.b64decode(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
        mac1_key = hashlib.blake2s(b"mac1----" + key).digest()
        messages = []
        for _ in range(64):
            body = b"\x01\x00\x00\x00" + os.urandom(112)
            messages.append(body + hashlib.blake2s(body, digest_size=16, key=mac1_key).digest() + bytes(16))
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        out.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        out.connect((host, port))
        send = out.send
        end = time.monotonic() + seconds
        sent = 0
        while sent < maximum:
            for message in messages:
                try:
                    send(message)
                except OSError:
                    pass
            sent += len(messages)
            if sent == lead - lead % len(messages):
                print("deep", flush=True)
            if sent % 4096 == 0 and time.monotonic() >= end:
                break
        print("sent", sent, flush=True)
        """#

    private func statusOf(_ tunnel: TunnelLab) throws -> [String: Any] {
        let reply = try tunnel.control.call(
            "io.culvert.Manager.SendProviderMessage",
            ["profile": .string("wg"), "data": .string(Data("status".utf8).base64EncodedString())],
            timeoutMilliseconds: TunnelLab.callMilliseconds)
        let data = Data(base64Encoded: reply["data"]?.stringValue ?? "") ?? Data()
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    private func log(_ tunnel: TunnelLab) -> String {
        "\nsession log:\n" + ((try? tunnel.sessionLog("wg").joined(separator: "\n")) ?? "?")  // try?: only for failure messages
    }
}
