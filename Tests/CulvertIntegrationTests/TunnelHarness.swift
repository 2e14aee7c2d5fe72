// TunnelHarness: a culvertd in namespace A of a fresh NetworkNamespacePair, the test provider
// installed as a signed extension, and its peer running in namespace B. Everything (namespaces,
// processes, directories) is torn down by the test's teardown blocks, even when the test fails.
//
//   namespace A                                           namespace B
//   culvertd ── provider (nobody) ── UDP 10.200.0.1:7001 ═══ 10.200.0.2:7000 ── peer (root)
//                   │ fd 3                                                        │
//                 cvtN 10.77.0.1/24  ─ ─ ─ ─ ─ tunnel ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─   cvtpeerN 10.77.0.2/24
//                                                                        lo: 10.99.0.1/32 (only via the tunnel)

import CulvertBundle
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class TunnelHarness {
    static let extensionIdentifier = "io.culvert.testprovider"
    static let tunnelAddressA = "10.77.0.1"
    static let tunnelAddressB = "10.77.0.2"
    /// Reachable from A only through the tunnel (on B's loopback).
    static let behindPeer = "10.99.0.1"
    static let peerPort = 7000
    static let providerPort = 7001

    let namespaces: NetworkNamespacePair
    let directory: TemporaryDirectory
    let daemon: DaemonProcess
    let control: VarlinkClientConnection
    var peer: Process?
    var resolvConf: String { directory.path + "/resolv.conf" }

    /// Sets everything up and registers teardown with `test`.
    init(test: XCTestCase, daemonArguments: [String] = [], startPeer: Bool = true) throws {
        namespaces = try NetworkNamespacePair()
        directory = try TemporaryDirectory(prefix: "culvert-tunnel")
        // The provider runs as nobody and must reach its store copy below this directory.
        try FileSystem.setMode(directory.path, 0o755)
        try Data("nameserver 192.0.2.53\nsearch example.invalid\noptions edns0\n".utf8).write(
            to: URL(fileURLWithPath: directory.path + "/resolv.conf"))
        let key = SigningKey.generate()
        try BundleFixture.trust(key, configDirectory: directory.path + "/etc")
        try BundleFixture.policy(configDirectory: directory.path + "/etc")
        let sources = directory.path + "/src"
        try FileManager.default.createDirectory(atPath: sources, withIntermediateDirectories: true)
        let bundle = try BundleFixture.make(
            in: sources, identifier: Self.extensionIdentifier, key: key, executableFile: Products.path(of: "culvert-test-provider"))
        daemon = DaemonProcess(
            root: directory.path,
            arguments: [
                "--provider-user", "nobody", "--resolv-conf", directory.path + "/resolv.conf", "--start-timeout", "3",
                "--stop-timeout", "2", "--restart-delay", "0.3", "--restart-delay-max", "1.2", "--stats-interval", "0.2",
            ] + daemonArguments,
            namespace: namespaces.a)
        let namespaces = self.namespaces
        let directory = self.directory
        let daemon = self.daemon
        test.addTeardownBlock {
            daemon.stop()
            namespaces.tearDown()
            directory.remove()
        }
        try daemon.start()
        control = try daemon.connect()
        _ = try control.call(
            "io.culvert.Manager.InstallExtension", ["path": .string(bundle)], timeoutMilliseconds: replyTimeoutMilliseconds)
        if startPeer { try startPeerProcess(test: test) }
    }

    func startPeerProcess(test: XCTestCase) throws {
        try namespaces.ip(in: namespaces.b, ["addr", "add", Self.behindPeer + "/32", "dev", "lo"])
        let process = try namespaces.spawn(
            in: namespaces.b,
            [
                Products.path(of: "culvert-test-provider"), "peer", "--listen", "\(NetworkNamespacePair.addressB):\(Self.peerPort)",
                "--remote", "\(NetworkNamespacePair.addressA):\(Self.providerPort)", "--address", Self.tunnelAddressB + "/24",
                "--seconds", "600",
            ], output: directory.path + "/peer.log")
        peer = process
        test.addTeardownBlock {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
        // Wait (bounded) until the peer's TUN is up.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            // try?: the log may not be written yet; retry.
            if let log = try? String(contentsOfFile: directory.path + "/peer.log", encoding: .utf8), log.contains("relaying") { return }
            usleep(20_000)
        }
        throw NetworkNamespacePair.CommandError.failed(command: "peer", status: -1, error: peerLog)
    }

    var peerLog: String { (try? String(contentsOfFile: directory.path + "/peer.log", encoding: .utf8)) ?? "" }  // absent: empty

    /// Saves a profile of the test provider. `options` add to / override the defaults.
    func saveProfile(_ name: String, options: [String: String] = [:], alwaysOn: Bool = false, secrets: [String: String] = [:]) throws {
        var all = [
            "peer": "\(NetworkNamespacePair.addressB):\(Self.peerPort)", "listen": "0.0.0.0:\(Self.providerPort)",
            "address": Self.tunnelAddressA + "/24",
        ]
        all.merge(options) { $1 }
        _ = try control.call(
            "io.culvert.Manager.SaveProfile",
            [
                "profile": [
                    "name": .string(name), "extension": .string(Self.extensionIdentifier),
                    "options": .object(all.mapValues { .string($0) }), "alwaysOn": .bool(alwaysOn),
                    "secrets": .object(secrets.mapValues { .string($0) }),
                ]
            ], timeoutMilliseconds: replyTimeoutMilliseconds)
    }

    @discardableResult
    func connect(_ name: String, wait: Bool = true) throws -> JSONValue {
        try control.call(
            "io.culvert.Manager.Connect", ["profile": .string(name), "wait": .bool(wait)], timeoutMilliseconds: 20_000)
    }

    @discardableResult
    func disconnect(_ name: String) throws -> JSONValue {
        try control.call("io.culvert.Manager.Disconnect", ["profile": .string(name)], timeoutMilliseconds: 20_000)
    }

    func session(_ name: String) throws -> JSONValue? {
        let status = try control.call("io.culvert.Manager.GetStatus", [:], timeoutMilliseconds: replyTimeoutMilliseconds)
        guard case .array(let sessions)? = status["status"]?["sessions"] else { return nil }
        return sessions.first { $0["profile"]?.stringValue == name }
    }

    /// Polls the session until `predicate` holds (bounded by `timeout` seconds).
    func waitForSession(_ name: String, timeout: TimeInterval = 15, _ predicate: (JSONValue) -> Bool) throws -> JSONValue? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let session = try session(name), predicate(session) { return session }
            usleep(50_000)
        }
        return try session(name)
    }

    func sessionLog(_ name: String) throws -> [String] {
        let reply = try control.call(
            "io.culvert.Manager.GetSessionLog", ["profile": .string(name)], timeoutMilliseconds: replyTimeoutMilliseconds)
        guard case .array(let lines)? = reply["lines"] else { return [] }
        return lines.compactMap(\.stringValue)
    }

    /// The remote error of a call that must fail.
    static func remoteError(_ body: () throws -> JSONValue) -> VarlinkError? {
        do {
            _ = try body()
            return nil
        } catch VarlinkClientError.remote(let error) {
            return error
        } catch {
            return VarlinkError("local", ["description": .string("\(error)")])
        }
    }

    /// Runs `command` in namespace A.
    @discardableResult
    func inA(_ command: [String], timeout: TimeInterval = 30) throws -> NetworkNamespacePair.CommandResult {
        try namespaces.exec(in: namespaces.a, command, timeout: timeout)
    }

    func networkStateA() throws -> [String: String] { try namespaces.networkState(in: namespaces.a) }

    /// Fails with the objects that differ (not two walls of JSON) if A's network state is not `expected`.
    func assertNetworkState(equals expected: [String: String], _ message: String = "", file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        let now = try networkStateA()
        for key in Set(expected.keys).union(now.keys).sorted() where expected[key] != now[key] {
            XCTFail(
                "\(message) ip -j \(key) changed:\n before: \(expected[key] ?? "-")\n now:    \(now[key] ?? "-")", file: file, line: line)
        }
    }

    /// Descriptors culvertd holds.
    var daemonDescriptorCount: Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/fd")) ?? []).count  // gone: 0
    }
}

extension JSONValue {
    var stringList: [String] {
        guard case .array(let items) = self else { return [] }
        return items.compactMap(\.stringValue)
    }
}
