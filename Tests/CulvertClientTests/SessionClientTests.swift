// CulvertClient's session surface without a daemon: typed errors from error replies, reply
// decoding, and the shared session description.

import CulvertCore
import CulvertVarlink
import XCTest

@testable import CulvertClient

final class SessionClientTests: XCTestCase {
    func testNewManagerErrorsMapToTypedCases() {
        let cases: [(VarlinkError, CulvertClientError)] = [
            (
                VarlinkError(
                    "io.culvert.Manager.ConnectFailed",
                    ["reason": "start_timeout", "description": "no answer in 30 s", "log": ["one", "two"]]),
                .connectFailed(reason: "start_timeout", description: "no answer in 30 s", log: ["one", "two"])
            ),
            (VarlinkError("io.culvert.Manager.SessionNotFound", ["profile": "office"]), .sessionNotFound(profile: "office")),
            (
                VarlinkError("io.culvert.Manager.ProviderUnavailable", ["profile": "office", "state": "connecting"]),
                .providerUnavailable(profile: "office", state: "connecting")
            ),
            (
                VarlinkError(
                    "io.culvert.Manager.ProviderMessageFailed", ["profile": "office", "reason": "provider_error", "description": "nope"]),
                .providerMessageFailed(profile: "office", reason: "provider_error", description: "nope")
            ),
            (VarlinkError("io.culvert.Manager.FullTunnelInUse", ["profile": "home"]), .fullTunnelInUse(profile: "home")),
            (
                VarlinkError(
                    "io.culvert.Manager.UpgradeFailed",
                    [
                        "identifier": "io.example", "installed": "1.0.0 (1)", "offered": "2.0.0 (1)", "profile": "home",
                        "reason": "import_failed", "description": "bad state", "log": ["line"],
                    ]),
                .upgradeFailed(
                    identifier: "io.example", installed: "1.0.0 (1)", offered: "2.0.0 (1)", profile: "home", reason: "import_failed",
                    description: "bad state", log: ["line"])
            ),
            (VarlinkError("io.culvert.Manager.ProfileNotFound", ["name": "nope"]), .profileNotFound(name: "nope")),
            (
                VarlinkError("io.culvert.Manager.ReexecFailed", ["reason": "busy", "description": "sessions are starting"]),
                .reexecFailed(reason: "busy", description: "sessions are starting")
            ),
        ]
        for (remote, expected) in cases {
            XCTAssertEqual(CulvertClientError(remote: remote, method: "Connect"), expected, remote.name)
        }
        XCTAssertEqual(
            CulvertClientError.connectFailed(reason: "start_timeout", description: "start_timeout: took too long", log: []).description,
            "connect failed: start_timeout: took too long")
    }

    func testConnectReplyDecodesWithTheWireKeys() throws {
        let reply: JSONValue = [
            "seq": 12,
            "session": [
                "profile": "office", "id": "s1", "state": "connected", "reason": "provider_started", "extension": "io.culvert.test",
                "extensionVersion": "1.0.0", "pid": 42, "uid": 998, "connectedBy": ["uid": 0, "pid": 7, "command": "culvertctl"],
                "requestedAt": "2025-01-01T00:00:00.000Z", "connectedAt": "2025-01-01T00:00:01.000Z", "interface": "tun0", "mtu": 1420,
                "addresses": ["10.9.0.2/24"], "routes": ["10.9.0.0/24"], "fullTunnel": false, "dnsServers": ["10.9.0.1"],
                "dnsBackend": "resolved",
                "counters": ["rxBytes": 1, "rxPackets": 2, "txBytes": 3, "txPackets": 4], "restarts": 0,
            ],
        ]
        let change = try WireDecoding.decode(SessionChange.self, from: reply, what: "Connect reply")
        XCTAssertEqual(change.seq, 12)
        XCTAssertEqual(change.session.extensionIdentifier, "io.culvert.test")
        XCTAssertEqual(change.session.state, .connected)
        XCTAssertEqual(change.session.connectedBy?.command, "culvertctl")
        XCTAssertEqual(change.session.counters.txPackets, 4)
        XCTAssertNil(change.session.failure)
    }

    func testByteCountsInBinaryUnits() {
        XCTAssertEqual(SessionDescription.bytes(0), "0 B")
        XCTAssertEqual(SessionDescription.bytes(1023), "1023 B")
        XCTAssertEqual(SessionDescription.bytes(1024), "1.0 KiB")
        XCTAssertEqual(SessionDescription.bytes(1536), "1.5 KiB")
        XCTAssertEqual(SessionDescription.bytes(5 * 1024 * 1024 * 1024), "5.0 GiB")
        XCTAssertEqual(SessionDescription.traffic(bytes: 1536, packets: 1), "1.5 KiB (1536 bytes, 1 packet)")
    }

    func testContextRowsCoverTheExecutionContext() {
        var session = SessionInfo(
            profile: "office", id: "s1", extensionIdentifier: "io.culvert.test", extensionVersion: "1.2.0", requestedAt: "T0")
        session.routes = ["10.0.0.0/8", "192.168.0.0/16"]
        session.failure = SessionFailure(reason: .providerExited, description: "exited", exitStatus: 3, log: ["a", "b"])
        let rows = SessionDescription.contextRows(session)
        XCTAssertTrue(rows.allSatisfy { $0.count == 2 })
        let labels = rows.map { $0[0] }.filter { !$0.isEmpty }
        XCTAssertEqual(
            labels,
            [
                "profile", "state", "session id", "extension", "provider pid", "provider uid", "connected by", "requested at",
                "connected at", "interface", "mtu", "addresses", "routes", "full tunnel", "dns", "received", "sent", "restarts",
                "next restart", "last failure", "failure log",
            ])
        XCTAssertTrue(rows.contains(["", "192.168.0.0/16"]))
        XCTAssertTrue(rows.contains(["last failure", "provider_exited: exited (exit status 3)"]))
        XCTAssertTrue(rows.contains(["connected by", "culvertd (always-on start)"]))
        XCTAssertTrue(rows.contains(["", "b"]))
    }

    /// A reader's view has the provider's identity, who connected and the failure's details
    /// withheld by culvertd: the rows say so instead of "none" or "always-on start".
    func testReaderRowsSayWhatWasWithheld() {
        var session = SessionInfo(
            profile: "office", id: "s1", extensionIdentifier: "io.culvert.test", extensionVersion: "1.2.0", requestedAt: "T0")
        session.routes = ["10.0.0.0/8", "192.168.0.0/16"]
        session.failure = SessionFailure(reason: .providerCrashed, description: "", log: [])
        let rows = SessionDescription.contextRows(session, readerView: true)
        let labels = rows.map { $0[0] }.filter { !$0.isEmpty }
        XCTAssertEqual(
            labels,
            [
                "profile", "state", "session id", "extension", "requested at", "connected at", "provider", "connected by", "interface",
                "mtu", "addresses", "routes", "full tunnel", "dns", "received", "sent", "restarts", "next restart", "last failure",
            ])
        XCTAssertTrue(rows.contains(["connected by", "withheld (root only)"]))
        XCTAssertTrue(rows.contains(["provider", "withheld (root only)"]))
        XCTAssertTrue(rows.contains(["last failure", "provider_crashed (details withheld (root only))"]))
        XCTAssertTrue(rows.contains(["", "192.168.0.0/16"]))
        XCTAssertFalse(rows.contains { $0[1].contains("always-on") || $0[1].hasPrefix("none (no provider") })
    }
}
