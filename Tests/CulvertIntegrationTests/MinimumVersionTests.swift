// Contract 5's `minimumCulvertdVersion`: refused at install with DaemonTooOld, and re-checked at
// start for what is already installed (a daemon downgrade): such an extension is shown failed
// with reason daemon_too_old, reported, its sessions refused, and nothing is deleted.

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class MinimumVersionTests: XCTestCase {
    static let future = "99.0.0"
    var work: TemporaryDirectory!
    var key: SigningKey!

    override func setUpWithError() throws {
        work = try TemporaryDirectory(prefix: "culvert-minversion")
        key = SigningKey.generate()
        try BundleFixture.trust(key, configDirectory: work.path + "/etc")
        try BundleFixture.policy(configDirectory: work.path + "/etc")
    }

    override func tearDown() { work.remove() }

    func makeDaemon() throws -> DaemonProcess {
        let daemon = DaemonProcess(root: work.path)
        addTeardownBlock { daemon.crash() }
        try daemon.start()
        return daemon
    }

    func install(_ daemon: DaemonProcess, _ path: String) throws -> JSONValue {
        try daemon.connect().call(
            "io.culvert.Manager.InstallExtension", ["path": .string(path)], timeoutMilliseconds: replyTimeoutMilliseconds)
    }

    /// The remote error of a call that must fail.
    func remoteError(_ body: () throws -> JSONValue) -> VarlinkError? {
        do {
            let reply = try body()
            XCTFail("accepted: \(reply.jsonString)")
        } catch VarlinkClientError.remote(let error) {
            return error
        } catch {
            XCTFail("failed otherwise: \(error)")
        }
        return nil
    }

    func testInstallRefusesABundleThatNeedsANewerDaemon() throws {
        let daemon = try makeDaemon()
        let current = try BundleFixture.make(in: work.path + "/src/v1", version: "1.0.0", key: key)
        _ = try install(daemon, current)
        let registry = daemon.stateDirectory + "/extensions/registry.json"
        let registryBefore = try Data(contentsOf: URL(fileURLWithPath: registry))
        let storeBefore = try FileSystem.listDirectory(daemon.stateDirectory + "/extensions/store")

        let future = try BundleFixture.make(in: work.path + "/src/v2", version: "2.0.0", key: key, minimumCulvertdVersion: Self.future)
        let error = try XCTUnwrap(remoteError { try self.install(daemon, future) })
        XCTAssertEqual(error.name, "io.culvert.Manager.DaemonTooOld")
        XCTAssertEqual(error.parameters["identifier"], "io.culvert.test")
        XCTAssertEqual(error.parameters["required"]?.stringValue, Self.future)
        XCTAssertEqual(error.parameters["running"], try daemon.connect().call("io.culvert.Manager.Ping")["version"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: registry)), registryBefore, "the registry changed")
        XCTAssertEqual(try FileSystem.listDirectory(daemon.stateDirectory + "/extensions/store"), storeBefore, "a copy was stored")
        XCTAssertEqual(try FileSystem.listDirectory(daemon.stateDirectory + "/extensions/staging"), [])

        let command = try BackgroundCommand([
            Products.path(of: "culvertctl"), "--socket", daemon.socketPath, "extension", "install", future,
        ])
        defer { command.kill() }
        let result = try command.wait()
        XCTAssertEqual(result.status, 65, result.stderr)
        XCTAssertTrue(result.stderr.contains("needs culvertd \(Self.future) or newer"), result.stderr)
    }

    func testAfterADaemonDowngradeTheExtensionIsUnusableAndNothingIsDeleted() throws {
        let daemon = try makeDaemon()
        try daemon.connect().saveProfile("lab")
        daemon.crash()

        // What a newer culvertd left: a verified store copy that needs it, registered as enabled.
        let bundle = try BundleFixture.make(in: work.path + "/src/future", version: "3.0.0", key: key, minimumCulvertdVersion: Self.future)
        let verified = try BundleVerifier.verify(directory: bundle, trust: TrustedPublishers([key.publisherKey]), allowUnsigned: false)
        let store = daemon.stateDirectory + "/extensions/store/" + verified.contentDigest
        try FileSystem.createDirectory(store, mode: 0o755)
        let copy = try BundleInstaller.stageCopy(from: bundle, into: store)
        let info = ExtensionInfo(
            identifier: "io.culvert.test", displayName: "future", version: "3.0.0", build: 1, publisher: key.publisherKey.fingerprint,
            signed: true, state: .enabled, reason: "installed", capabilities: [], source: bundle, storePath: copy,
            contentDigest: verified.contentDigest, installedAt: "2030-01-01T00:00:00Z")
        let registry = daemon.stateDirectory + "/extensions/registry.json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let registryBytes = try encoder.encode(RegistryFile(format: 1, extensions: ["io.culvert.test": info]))
        try registryBytes.write(to: URL(fileURLWithPath: registry))
        try daemon.start()

        let control = try daemon.connect()
        let listed = try XCTUnwrap(try control.call("io.culvert.Manager.ListExtensions")["extensions"]?.arrayValue?.first)
        XCTAssertEqual(listed["state"], "failed")
        XCTAssertEqual(listed["reason"], "daemon_too_old")
        let problems = try XCTUnwrap(try control.call("io.culvert.Manager.GetStatus")["status"]?["problems"]?.arrayValue)
        XCTAssertEqual(problems.map { $0["kind"]?.stringValue ?? "" }, ["extension_not_usable"])
        XCTAssertEqual(problems.first?["path"]?.stringValue, copy)
        let refused = try XCTUnwrap(
            remoteError {
                try control.call("io.culvert.Manager.Connect", ["profile": "lab"], timeoutMilliseconds: replyTimeoutMilliseconds)
            })
        XCTAssertEqual(refused.name, "io.culvert.Manager.ExtensionNotUsable")
        XCTAssertEqual(refused.parameters["state"], "failed")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: registry)), registryBytes, "the registry was rewritten")
        XCTAssertNoThrow(try BundleVerifier.verify(directory: copy, trust: TrustedPublishers([key.publisherKey]), allowUnsigned: false))

        // Installing a version this daemon can run makes it usable again (with --allow-downgrade).
        let usable = try BundleFixture.make(in: work.path + "/src/usable", version: "1.0.0", key: key)
        _ = try daemon.connect().call(
            "io.culvert.Manager.InstallExtension", ["path": .string(usable), "allowDowngrade": true],
            timeoutMilliseconds: replyTimeoutMilliseconds)
        let after = try XCTUnwrap(try control.call("io.culvert.Manager.GetStatus")["status"])
        XCTAssertEqual(after["extensions"]?.arrayValue?.first?["state"], "enabled")
        XCTAssertEqual(after["problems"], [])
    }
}
