// What the reader group sees (docs/DESIGN.md, "Who may see what"), end to end: a provider prints
// its key and crashes; a reader's GetStatus, ListExtensions, Watch (snapshot, replay and live) and
// `culvertctl status` carry its state and reason but none of the provider's output, no option
// value, no secret's name, no path and no other caller's identity, while root's views still do.

import CulvertSystem
import CulvertTesting
import Foundation
import XCTest

final class ReaderVisibilityTests: XCTestCase {
    static let secretName = "SECRET-NAME-psk"
    static let secretValue = "SECRET-KEY-0123456789abcdef"
    static let behaviour = "leak-and-crash"

    /// A raw-protocol observer (no client library), run under another uid via setpriv; prints
    /// every reply it reads, one JSON line each. `once`: GetStatus, ListExtensions, a Watch's
    /// snapshot, then a Watch replaying from seq 0 up to GetStatus's seq. `live`: a Watch's
    /// snapshot, then live events until the profile's session ended with a failure.
    static let observerScript = #"""
        import json, socket, sys
        path, mode, profile = sys.argv[1], sys.argv[2], sys.argv[3]
        class Conn:
            def __init__(self):
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); self.s.settimeout(30); self.s.connect(path); self.buf = b""
            def send(self, method, more=False, **parameters):
                call = {"method": "io.culvert.Manager." + method, "parameters": parameters}
                if more: call["more"] = True
                self.s.sendall(json.dumps(call).encode() + b"\0")
            def read(self):
                while b"\0" not in self.buf:
                    chunk = self.s.recv(65536)
                    if not chunk: sys.exit("disconnected")
                    self.buf += chunk
                msg, self.buf = self.buf.split(b"\0", 1)
                print(msg.decode(), flush=True)
                return json.loads(msg)["parameters"]
        def call(method):
            c = Conn(); c.send(method); return c.read()
        if mode == "once":
            status = call("GetStatus")["status"]
            call("ListExtensions")
            c = Conn(); c.send("Watch", more=True); c.read()
            c = Conn(); c.send("Watch", more=True, since=0, epoch=status["daemon"]["epoch"])
            while c.read()["event"]["seq"] < status["seq"]: pass
        else:
            c = Conn(); c.send("Watch", more=True); c.read()
            while True:
                session = c.read()["event"].get("session") or {}
                if session.get("profile") == profile and session.get("state") == "disconnected" and "failure" in session: break
        """#

    override func setUpWithError() throws {
        XCTAssertEqual(Identity.effectiveUserID, 0, "ReaderVisibilityTests need root to create a reader-group user")
        try ensureReaderGroupMember()
    }

    static let asReader = ["/usr/bin/setpriv", "--reuid=\(PermissionTests.memberUser)", "--regid=nogroup", "--init-groups", "--"]
    static let asRoot = ["/usr/bin/setpriv", "--reuid=0", "--regid=0", "--keep-groups", "--"]

    func observer(_ identity: [String], _ mode: String, socket: String) throws -> BackgroundCommand {
        try BackgroundCommand(identity + [Repository.python, "-c", Self.observerScript, socket, mode, "leaky"])
    }

    func testReadersSeeStatesAndReasonsButNoProviderOutputOptionsPathsOrCallers() throws {
        let h = try TunnelLab(test: self, daemonArguments: ["--group", PermissionTests.readerGroup], startPeer: false)
        try h.saveProfile("leaky", options: ["behaviour": Self.behaviour], secrets: [Self.secretName: Self.secretValue])
        let socket = h.daemon.socketPath

        // Live watchers of both classes, subscribed (snapshot read) before anything happens.
        let readerLive = try observer(Self.asReader, "live", socket: socket)
        let rootLive = try observer(Self.asRoot, "live", socket: socket)
        defer {
            readerLive.kill()
            rootLive.kill()
        }
        for live in [readerLive, rootLive] { _ = try live.waitForLine { $0.contains("\"snapshot\"") } }

        // The provider really prints its key: root's ConnectFailed and session log carry it.
        let error = TunnelLab.remoteError { try h.connect("leaky") }
        XCTAssertEqual(error?.name, "io.culvert.Manager.ConnectFailed")
        XCTAssertEqual(error?.parameters["reason"]?.stringValue, "provider_crashed")
        XCTAssertTrue(
            error?.parameters["log"]?.stringList.contains { $0.contains(Self.secretValue) } ?? false, "\(String(describing: error))")

        let readerLiveResult = try readerLive.wait()
        let rootLiveResult = try rootLive.wait()
        XCTAssertEqual(readerLiveResult.status, 0, readerLiveResult.stderr)
        XCTAssertEqual(rootLiveResult.status, 0, rootLiveResult.stderr)
        let readerOnce = try observer(Self.asReader, "once", socket: socket).wait()
        let rootOnce = try observer(Self.asRoot, "once", socket: socket).wait()
        XCTAssertEqual(readerOnce.status, 0, readerOnce.stderr)
        XCTAssertEqual(rootOnce.status, 0, rootOnce.stderr)
        let culvertctl = Self.asReader + [Products.path(of: "culvertctl"), "--socket", socket]
        let readerStatus = try BackgroundCommand(culvertctl + ["--json", "status"]).wait()
        let readerText = try BackgroundCommand(culvertctl + ["status"]).wait()
        XCTAssertEqual(readerStatus.status, 0, readerStatus.stderr)
        XCTAssertEqual(readerText.status, 0, readerText.stderr)
        let readerMetrics = try BackgroundCommand(culvertctl + ["metrics"]).wait()
        XCTAssertEqual(readerMetrics.status, 0, readerMetrics.stderr)
        XCTAssertTrue(readerMetrics.stdout.contains("culvert_session_up{profile=\"leaky\"}"), readerMetrics.stdout)

        // Each view was exercised: live events, a snapshot, and a replay (not a snapshot) from seq 0.
        let readerOnceLines = readerOnce.stdoutLines
        XCTAssertTrue(readerLiveResult.stdout.contains("provider_crashed"), readerLiveResult.stdout)
        XCTAssertTrue(readerOnceLines.contains { $0.contains("\"kind\":\"snapshot\"") }, readerOnce.stdout)
        XCTAssertTrue(readerOnceLines.contains { $0.contains("\"kind\":\"profile_saved\"") }, "replayed: \(readerOnce.stdout)")
        XCTAssertTrue(readerOnce.stdout.contains("SIGABRT"), "the reason and signal reach readers: \(readerOnce.stdout)")
        XCTAssertTrue(readerStatus.stdout.contains("provider_crashed"), readerStatus.stdout)

        let reader = [
            ("live Watch", readerLiveResult.stdout), ("GetStatus, ListExtensions, snapshot and replay", readerOnce.stdout),
            ("culvertctl --json status", readerStatus.stdout), ("culvertctl status", readerText.stdout),
            ("culvertctl metrics", readerMetrics.stdout),
        ]
        for (view, output) in reader {
            let text = output.replacingOccurrences(of: socket, with: "")  // culvertctl status names the socket it was given
            XCTAssertFalse(text.contains("SECRET-"), "\(view): provider output or a secret's name: \(text)")
            XCTAssertFalse(text.contains(Self.behaviour), "\(view): an option value: \(text)")
            XCTAssertFalse(text.contains(h.directory.path), "\(view): a path under the state or source directory: \(text)")
        }
        let testPID = ProcessInfo.processInfo.processIdentifier  // the lab's control connection: the actor
        for (view, text) in reader.prefix(2) {
            for key in ["\"actor\"", "\"connectedBy\"", "\"uid\"", "\"log\":[\"", "\"error\"", "\"pid\":\(testPID)"] {
                XCTAssertFalse(text.contains(key), "\(view): \(key) is withheld: \(text)")
            }
            let sessions = try text.split(separator: "\n").flatMap {
                try Self.sessions(in: JSONSerialization.jsonObject(with: Data($0.utf8)))
            }
            XCTAssertFalse(sessions.isEmpty, view)
            for session in sessions { XCTAssertNil(session["pid"], "\(view): the provider's pid is withheld: \(session)") }
        }

        // Root's views are whole.
        for (view, text) in [("live Watch", rootLiveResult.stdout), ("GetStatus, snapshot and replay", rootOnce.stdout)] {
            XCTAssertTrue(text.contains(Self.secretValue), "\(view): root sees the provider's output")
            XCTAssertTrue(text.contains(Self.behaviour), "\(view): root sees option values")
            XCTAssertTrue(text.contains("\"actor\"") || text.contains("\"pid\""), "\(view): root sees callers and processes")
        }
        XCTAssertTrue(rootOnce.stdout.contains(Self.secretName), "root sees secrets' names")
        XCTAssertTrue(rootOnce.stdout.contains(h.directory.path), "root sees store paths")
        XCTAssertTrue(rootOnce.stdout.contains("\"actor\""), "root sees who saved the profile")
        XCTAssertTrue(rootOnce.stdout.contains("\"connectedBy\""), "root sees who connected the session")
    }

    /// Every session object (the objects with an extensionVersion) anywhere in a parsed reply.
    static func sessions(in value: Any) -> [[String: Any]] {
        if let object = value as? [String: Any] {
            let own = object["extensionVersion"] != nil ? [object] : []
            return own + object.values.flatMap { sessions(in: $0) }
        }
        if let array = value as? [Any] { return array.flatMap { sessions(in: $0) } }
        return []
    }
}
