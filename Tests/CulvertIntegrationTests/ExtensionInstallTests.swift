// Installing extensions through culvertd (contracts 5, 6, 7, 12): verified copies, version
// semantics, refusal of tampered bundles with nothing changed, approval, uninstall, gc.

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class ExtensionInstallTests: XCTestCase {
    var sources: TemporaryDirectory!
    var key: SigningKey!

    override func setUpWithError() throws {
        sources = try TemporaryDirectory(prefix: "culvert-src")
        key = SigningKey.generate()
    }

    override func tearDown() { sources.remove() }

    /// A daemon that trusts `key`, with an optional policy.
    func daemon(requireApproval: Bool = false, developerMode: Bool = false) throws -> DaemonProcess {
        let directory = try TemporaryDirectory(prefix: "culvert-ext")
        try BundleFixture.trust(key, configDirectory: directory.path + "/etc")
        try BundleFixture.policy(configDirectory: directory.path + "/etc", requireApproval: requireApproval, developerMode: developerMode)
        let daemon = DaemonProcess(root: directory.path)
        addTeardownBlock {
            daemon.crash()
            directory.remove()
        }
        try daemon.start()
        return daemon
    }

    func install(_ connection: VarlinkClientConnection, _ path: String, allowDowngrade: Bool = false) throws -> JSONValue {
        try connection.call(
            "io.culvert.Manager.InstallExtension", ["path": .string(path), "allowDowngrade": .bool(allowDowngrade)],
            timeoutMilliseconds: replyTimeoutMilliseconds)
    }

    /// The remote error of a call that must fail, as "Name reason".
    func refusal(_ body: () throws -> JSONValue) -> String {
        do {
            let reply = try body()
            return "accepted: \(reply.jsonString)"
        } catch VarlinkClientError.remote(let error) {
            let detail = error.parameters["reason"]?.stringValue.map { " " + $0 } ?? ""
            return error.name.replacingOccurrences(of: "io.culvert.Manager.", with: "") + detail
        } catch {
            return "failed: \(error)"
        }
    }

    func testVersionSemanticsAndEvents() throws {
        let daemon = try daemon()
        let control = try daemon.connect()
        let watcher = try daemon.connect()
        try watcher.startWatch()
        let start = try XCTUnwrap(try watcher.nextEvent()["seq"]?.intValue)

        let v1 = try BundleFixture.make(in: sources.path + "/v1", version: "1.0.0", build: 1, key: key)
        let first = try install(control, v1)
        XCTAssertEqual(first["result"], "installed")
        XCTAssertEqual(first["extension"]?["state"], "enabled")
        XCTAssertEqual(first["extension"]?["signed"], true)
        XCTAssertEqual(first["extension"]?["publisher"]?.stringValue, key.publisherKey.fingerprint)
        let installed = try watcher.nextEvent()
        XCTAssertEqual(installed["kind"], "extension_installed")
        XCTAssertEqual(installed["seq"]?.intValue, start + 1)

        // Same version and build: unchanged, and no event.
        XCTAssertEqual(try install(control, v1)["result"], "unchanged")
        let v2 = try BundleFixture.make(in: sources.path + "/v2", version: "1.1.0", build: 7, key: key)
        XCTAssertEqual(try install(control, v2)["result"], "replaced")
        let replaced = try watcher.nextEvent()
        XCTAssertEqual(replaced["kind"], "extension_replaced", "an unchanged install must not emit an event")
        XCTAssertEqual(replaced["seq"]?.intValue, start + 2)
        XCTAssertEqual(replaced["previousVersion"], "1.0.0 (1)")
        XCTAssertEqual(replaced["extension"]?["version"], "1.1.0")

        // Older: refused unless allowed.
        XCTAssertEqual(
            refusal { try install(control, v1) }, "DowngradeRefused")
        XCTAssertEqual(try install(control, v1, allowDowngrade: true)["result"], "replaced")
        XCTAssertEqual(try watcher.nextEvent()["extension"]?["version"], "1.0.0")

        // Same identifier, newer version, another (trusted) publisher: refused.
        let other = SigningKey.generate()
        try BundleFixture.trust(other, configDirectory: daemon.configDirectory, name: "other")
        let foreign = try BundleFixture.make(in: sources.path + "/foreign", version: "9.0.0", build: 1, key: other)
        XCTAssertEqual(refusal { try install(control, foreign) }, "PublisherMismatch")

        let list = try control.call("io.culvert.Manager.ListExtensions")["extensions"]?.arrayValue ?? []
        XCTAssertEqual(list.count, 1)
        XCTAssertEqual(list.first?["version"], "1.0.0")
        // Only the installed copy remains in the store (the replaced ones were removed).
        XCTAssertEqual(try FileSystem.listDirectory(daemon.stateDirectory + "/extensions/store").count, 1)
    }

    func testTamperedBundlesAreRefusedWithDistinctErrorsAndNothingChanges() throws {
        let daemon = try daemon()
        let control = try daemon.connect()
        // A valid v1 installed first, so refusals of v2 must leave it exactly as it is.
        _ = try install(control, try BundleFixture.make(in: sources.path + "/base", version: "1.0.0", build: 1, key: key))
        let before = BundleFixture.snapshot(daemon.stateDirectory + "/extensions")
        let statusBefore = try control.call("io.culvert.Manager.GetStatus")["status"]?["extensions"]

        var outcomes: [String: String] = [:]
        for (name, tamper) in Tamperings.all {
            let directory = sources.path + "/" + name
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let bundle = try BundleFixture.make(in: directory, version: "2.0.0", build: 2, key: key)
            let path = try tamper(
                Tamperings.Context(bundle: bundle, directory: directory, key: key, configDirectory: daemon.configDirectory))
            let outcome = refusal { try install(control, path) }
            outcomes[name] = outcome
            XCTAssertFalse(outcome.hasPrefix("accepted") || outcome.hasPrefix("failed"), "\(name): \(outcome)")
            XCTAssertEqual(BundleFixture.snapshot(daemon.stateDirectory + "/extensions"), before, "\(name) changed the registry or store")
        }
        XCTAssertGreaterThanOrEqual(outcomes.count, 25)
        let distinct = Set(outcomes.values)
        XCTAssertEqual(distinct.count, outcomes.count, "some tamperings share an error: \(outcomes.sorted { $0.key < $1.key })")
        for (name, outcome) in outcomes.sorted(by: { $0.key < $1.key }) { print("tamper \(name): \(outcome)") }
        XCTAssertEqual(try control.call("io.culvert.Manager.GetStatus")["status"]?["extensions"], statusBefore)
    }

    func testInstalledCopyIsReadOnlyAndIndependentOfTheSource() throws {
        let daemon = try daemon()
        let control = try daemon.connect()
        let source = try BundleFixture.make(
            in: sources.path + "/src", version: "1.0.0", build: 1, key: key, payload: "#!/bin/sh\necho original\n")
        let reply = try install(control, source)
        let storePath = try XCTUnwrap(reply["extension"]?["storePath"]?.stringValue)
        XCTAssertTrue(storePath.hasPrefix(daemon.stateDirectory + "/extensions/store/"))
        XCTAssertEqual(FileSystem.mode(of: storePath), 0o555)
        XCTAssertEqual(FileSystem.mode(of: storePath + "/bin/provider"), 0o555)
        XCTAssertEqual(FileSystem.mode(of: storePath + "/README"), 0o444)
        var info = stat()
        XCTAssertEqual(lstat(storePath + "/bin/provider", &info), 0)
        XCTAssertEqual(info.st_uid, 0)

        // Overwrite, then delete, the source: the copy and the daemon's answers do not change.
        try Data("#!/bin/sh\necho evil\n".utf8).write(to: URL(fileURLWithPath: source + "/bin/provider"))
        let afterOverwrite = try control.call("io.culvert.Manager.ListExtensions")
        XCTAssertEqual(afterOverwrite["extensions"]?.arrayValue?.first, reply["extension"])
        XCTAssertEqual(String(decoding: try FileSystem.readFile(storePath + "/bin/provider"), as: UTF8.self), "#!/bin/sh\necho original\n")
        XCTAssertNoThrow(
            try BundleVerifier.verify(directory: storePath, trust: TrustedPublishers([key.publisherKey]), allowUnsigned: false))
        try FileManager.default.removeItem(atPath: sources.path + "/src")
        XCTAssertEqual(try control.call("io.culvert.Manager.ListExtensions")["extensions"]?.arrayValue?.first, reply["extension"])

        // gc reports (dry run) and then removes the orphaned registration and its copy.
        let dry = try control.call("io.culvert.Manager.CollectGarbage", ["dryRun": true])
        XCTAssertEqual(dry["removals"]?.arrayValue?.first?["kind"], "orphaned_registration")
        XCTAssertEqual(
            try control.call("io.culvert.Manager.ListExtensions")["extensions"]?.arrayValue?.count, 1, "a dry run removes nothing")
        let collected = try control.call("io.culvert.Manager.CollectGarbage")
        XCTAssertEqual(collected["removals"]?.arrayValue?.map { $0["kind"] }, ["orphaned_registration", "store_copy"])
        XCTAssertEqual(try control.call("io.culvert.Manager.ListExtensions")["extensions"], [])
        XCTAssertFalse(FileSystem.exists(storePath))
    }

    func testApprovalIsRequiredByPolicyBeforeProfilesMayUseIt() throws {
        let daemon = try daemon(requireApproval: true)
        let control = try daemon.connect()
        let reply = try install(control, try BundleFixture.make(in: sources.path + "/a", key: key))
        XCTAssertEqual(reply["extension"]?["state"], "awaiting_approval")
        XCTAssertEqual(reply["extension"]?["reason"], "approval_required")
        XCTAssertEqual(refusal { try control.saveProfile("uses-it") }, "ExtensionNotUsable")
        let approved = try control.call("io.culvert.Manager.ApproveExtension", ["identifier": "io.culvert.test"])
        XCTAssertEqual(approved["changed"], true)
        XCTAssertEqual(approved["extension"]?["state"], "enabled")
        XCTAssertEqual(try control.call("io.culvert.Manager.ApproveExtension", ["identifier": "io.culvert.test"])["changed"], false)
        XCTAssertNoThrow(try control.saveProfile("uses-it"))
        XCTAssertEqual(
            refusal { try control.call("io.culvert.Manager.ApproveExtension", ["identifier": "io.culvert.none"]) }, "ExtensionNotFound")
    }

    /// Registry changes asked for at once, on separate connections, all land — each is decided
    /// against the registry the one before it wrote (ManagerService.commitRegistry) — and are in
    /// registry.json after a restart.
    func testConcurrentRegistryChangesAllLandAndPersist() throws {
        let daemon = try daemon(requireApproval: true)
        let control = try daemon.connect()
        let names = ["io.culvert.a", "io.culvert.b", "io.culvert.c", "io.culvert.d"]
        for name in names.prefix(3) {
            _ = try install(control, try BundleFixture.make(in: sources.path + "/" + name, identifier: name, key: key))
        }
        let fourth = try BundleFixture.make(in: sources.path + "/" + names[3], identifier: names[3], key: key)
        let calls: [VarlinkCallMessage] = [
            VarlinkCallMessage(method: "io.culvert.Manager.ApproveExtension", parameters: ["identifier": .string(names[0])]),
            VarlinkCallMessage(method: "io.culvert.Manager.InstallExtension", parameters: ["path": .string(fourth)]),
            VarlinkCallMessage(method: "io.culvert.Manager.ApproveExtension", parameters: ["identifier": .string(names[1])]),
            VarlinkCallMessage(method: "io.culvert.Manager.UninstallExtension", parameters: ["identifier": .string(names[2])]),
        ]
        let connections = try calls.map { _ in try daemon.connect() }
        for (connection, call) in zip(connections, calls) { try connection.send(call) }
        for (connection, call) in zip(connections, calls) {
            let reply = try connection.receive(timeoutMilliseconds: Int32(replyTimeoutMilliseconds))
            XCTAssertNil(reply.error, "\(call.method): \(reply.error ?? "")")
        }
        func states() throws -> [String: String] {
            let listed = try XCTUnwrap(try daemon.connect().call("io.culvert.Manager.ListExtensions")["extensions"]?.arrayValue)
            return Dictionary(uniqueKeysWithValues: listed.map { ($0["identifier"]?.stringValue ?? "", $0["state"]?.stringValue ?? "") })
        }
        let expected = [names[0]: "enabled", names[1]: "enabled", names[3]: "awaiting_approval"]
        XCTAssertEqual(try states(), expected)
        daemon.crash()
        try daemon.start()
        XCTAssertEqual(try states(), expected, "an acknowledged change is missing from registry.json")
    }

    func testDeveloperModeAcceptsUnsignedBundlesAndSaysSo() throws {
        let strict = try daemon()
        let unsigned = try BundleFixture.make(in: sources.path + "/u", key: nil)
        XCTAssertEqual(refusal { try self.install(strict.connect(), unsigned) }, "BundleRejected unsigned_bundle")

        let developer = try daemon(developerMode: true)
        let control = try developer.connect()
        let reply = try install(control, unsigned)
        XCTAssertEqual(reply["extension"]?["signed"], false)
        XCTAssertEqual(reply["extension"]?["publisher"], "unsigned")
        XCTAssertEqual(try control.call("io.culvert.Manager.GetStatus")["status"]?["developerMode"], true)
    }

    func testUninstallRemovesRegistrationAndCopy() throws {
        let daemon = try daemon()
        let control = try daemon.connect()
        let reply = try install(control, try BundleFixture.make(in: sources.path + "/x", key: key))
        let storePath = try XCTUnwrap(reply["extension"]?["storePath"]?.stringValue)
        XCTAssertNotNil(try control.call("io.culvert.Manager.UninstallExtension", ["identifier": "io.culvert.test"])["seq"])
        XCTAssertFalse(FileSystem.exists(storePath))
        XCTAssertEqual(try control.call("io.culvert.Manager.ListExtensions")["extensions"], [])
        XCTAssertEqual(
            refusal { try control.call("io.culvert.Manager.UninstallExtension", ["identifier": "io.culvert.test"]) }, "ExtensionNotFound")
    }

    func testSpooledInstallsAreAppliedAtStartWithTheSameEvents() throws {
        let directory = try TemporaryDirectory(prefix: "culvert-spool")
        try BundleFixture.trust(key, configDirectory: directory.path + "/etc")
        let spool = directory.path + "/state/spool"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let good = try BundleFixture.make(in: sources.path + "/good", key: key)
        let bad = try BundleFixture.make(in: sources.path + "/bad", identifier: "io.culvert.bad", key: nil)
        for (name, path) in [("0001-good.json", good), ("0002-bad.json", bad)] {
            let request = SpoolRequest(path: path, allowDowngrade: false, requestedAt: "2026-11-27T00:00:00.000Z", requestedBy: 0)
            try JSONEncoder().encode(request).write(to: URL(fileURLWithPath: spool + "/" + name))
        }
        let daemon = DaemonProcess(root: directory.path)
        addTeardownBlock {
            daemon.crash()
            directory.remove()
        }
        try daemon.start()
        let control = try daemon.connect()
        let list = try control.call("io.culvert.Manager.ListExtensions")["extensions"]?.arrayValue ?? []
        XCTAssertEqual(list.map { $0["identifier"] }, ["io.culvert.test"])
        XCTAssertEqual(try FileSystem.listDirectory(spool), [], "applied and refused requests are both removed")
        // The same events as live installs, replayable from the start of this epoch.
        let epoch = try XCTUnwrap(try control.call("io.culvert.Manager.Ping")["epoch"]?.stringValue)
        let watcher = try daemon.connect()
        try watcher.startWatch(since: 0, epoch: epoch)
        XCTAssertEqual(try watcher.nextEvent()["kind"], "daemon_started")
        let installed = try watcher.nextEvent()
        XCTAssertEqual(installed["kind"], "extension_installed")
        XCTAssertEqual(installed["actor"]?["command"], "spool")
        let failed = try watcher.nextEvent()
        XCTAssertEqual(failed["kind"], "extension_install_failed")
        XCTAssertTrue(failed["error"]?.stringValue?.contains("unsigned_bundle") == true, failed.jsonString)
    }

    func testPolicyKeysDefaultWhenAbsentAndUnknownKeysAreRefused() throws {
        let daemon = try daemon()
        let control = try daemon.connect()
        let policy = daemon.configDirectory + "/policy.json"
        try Data(#"{"requireApproval": true}"#.utf8).write(to: URL(fileURLWithPath: policy))
        let bundle = try BundleFixture.make(in: sources.path + "/p", key: key)
        XCTAssertEqual(try install(control, bundle)["extension"]?["state"], "awaiting_approval")
        _ = try control.call("io.culvert.Manager.UninstallExtension", ["identifier": "io.culvert.test"])
        try Data(#"{"requireAproval": true}"#.utf8).write(to: URL(fileURLWithPath: policy))
        XCTAssertEqual(refusal { try install(control, bundle) }, "PolicyInvalid")
        XCTAssertEqual(try control.call("io.culvert.Manager.ListExtensions")["extensions"], [])
    }
}
