// Authorisation by SO_PEERCRED: root may do everything, the reader group may observe, everyone
// else is refused everything but org.varlink.service — each checked from a real process
// running under that identity.

import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class PermissionTests: XCTestCase {
    static let readerGroup = "culvert-it-readers"
    static let memberUser = "culvert-it-member"

    /// A peer written against the raw protocol (no client library), run under another uid via
    /// setpriv: sends each call and prints the reply's error name or "ok", one per line.
    static let peerScript = #"""
        import json, socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(sys.argv[1])
        buf = b""
        for call in json.loads(sys.argv[2]):
            s.sendall(json.dumps(call).encode() + b"\0")
            while b"\0" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    print("disconnected"); sys.exit(0)
                buf += chunk
            msg, buf = buf.split(b"\0", 1)
            reply = json.loads(msg)
            print(reply.get("error") or "ok")
            if reply.get("continues"):
                s.close(); s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(10); s.connect(sys.argv[1]); buf = b""
        """#

    static let calls: [(name: String, call: JSONValue)] = [
        ("GetInfo", ["method": "org.varlink.service.GetInfo"]),
        ("Describe", ["method": "org.varlink.service.GetInterfaceDescription", "parameters": ["interface": "io.culvert.Manager"]]),
        ("Ping", ["method": "io.culvert.Manager.Ping"]),
        ("GetStatus", ["method": "io.culvert.Manager.GetStatus"]),
        ("Watch", ["method": "io.culvert.Manager.Watch", "more": true]),
        (
            "SaveProfile",
            ["method": "io.culvert.Manager.SaveProfile", "parameters": ["profile": ["name": "perm", "extension": "io.culvert.test"]]]
        ),
        ("RemoveProfile", ["method": "io.culvert.Manager.RemoveProfile", "parameters": ["name": "perm"]]),
        ("ListExtensions", ["method": "io.culvert.Manager.ListExtensions"]),
        ("ApproveExtension", ["method": "io.culvert.Manager.ApproveExtension", "parameters": ["identifier": "io.culvert.none"]]),
        ("InstallExtension", ["method": "io.culvert.Manager.InstallExtension", "parameters": ["path": "/nonexistent"]]),
        ("CollectGarbage", ["method": "io.culvert.Manager.CollectGarbage", "parameters": ["dryRun": true]]),
    ]

    override func setUpWithError() throws {
        // CI runs as root; a run that cannot create users fails here rather than skipping.
        XCTAssertEqual(Identity.effectiveUserID, 0, "PermissionTests need root to create test users")
        try run("/usr/sbin/groupadd", ["-f", Self.readerGroup])
        if (try? run("/usr/bin/id", ["-u", Self.memberUser])) == nil {  // absent: create it
            try run(
                "/usr/sbin/useradd",
                ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--groups", Self.readerGroup, Self.memberUser])
        }
    }

    @discardableResult
    func run(_ executable: String, _ arguments: [String]) throws -> String {
        let result = try runProgram(executable, arguments)
        guard result.status == 0 else {
            throw NSError(
                domain: "run", code: Int(result.status),
                userInfo: [NSLocalizedDescriptionKey: "\(executable) \(arguments): \(result.output)"])
        }
        return result.output
    }

    func outcomes(as identity: [String], socket: String) throws -> [String: String] {
        let payload = JSONValue.array(Self.calls.map { $0.call }).jsonString
        let python = Repository.python
        let output = try run("/usr/bin/setpriv", identity + ["--", python, "-c", Self.peerScript, socket, payload])
        let lines = output.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, Self.calls.count, output)
        return Dictionary(uniqueKeysWithValues: zip(Self.calls.map { $0.name }, lines))
    }

    func testEachIdentityGetsExactlyItsRights() throws {
        let directory = try TemporaryDirectory(prefix: "culvert-perm")
        try FileSystem.setMode(directory.path, 0o755)  // other users must reach the socket
        let daemon = DaemonProcess(root: directory.path, arguments: ["--group", Self.readerGroup])
        addTeardownBlock {
            daemon.crash()
            directory.remove()
        }
        try daemon.start()

        let denied = "io.culvert.Manager.PermissionDenied"
        let root = try outcomes(as: ["--reuid=0", "--regid=0", "--keep-groups"], socket: daemon.socketPath)
        XCTAssertEqual(
            root,
            [
                "GetInfo": "ok", "Describe": "ok", "Ping": "ok", "GetStatus": "ok", "Watch": "ok", "SaveProfile": "ok",
                "RemoveProfile": "ok",
                "ListExtensions": "ok", "ApproveExtension": "io.culvert.Manager.ExtensionNotFound",
                "InstallExtension": "io.culvert.Manager.InvalidPath", "CollectGarbage": "ok",
            ])

        let member = try outcomes(as: ["--reuid=\(Self.memberUser)", "--regid=nogroup", "--init-groups"], socket: daemon.socketPath)
        XCTAssertEqual(
            member,
            [
                "GetInfo": "ok", "Describe": "ok", "Ping": "ok", "GetStatus": "ok", "Watch": "ok", "SaveProfile": denied,
                "RemoveProfile": denied, "ListExtensions": "ok", "ApproveExtension": denied, "InstallExtension": denied,
                "CollectGarbage": denied,
            ])

        let nobody = try outcomes(as: ["--reuid=nobody", "--regid=nogroup", "--clear-groups"], socket: daemon.socketPath)
        XCTAssertEqual(
            nobody,
            [
                "GetInfo": "ok", "Describe": "ok", "Ping": denied, "GetStatus": denied, "Watch": denied, "SaveProfile": denied,
                "RemoveProfile": denied, "ListExtensions": denied, "ApproveExtension": denied, "InstallExtension": denied,
                "CollectGarbage": denied,
            ])

        // A denied call changed nothing and the daemon says who was refused.
        let status = try daemon.connect().call("io.culvert.Manager.GetStatus")
        XCTAssertEqual(status["status"]?["profiles"], [])
        XCTAssertTrue(daemon.log.contains("denied SaveProfile"), daemon.log)
    }
}
