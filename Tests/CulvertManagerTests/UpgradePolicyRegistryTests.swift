// UpgradePolicyRegistryTests: upgrade policies and staged versions in registry.json and
// policy.json — old files without them still load, new ones round-trip, a staged copy is
// referenced (gc keeps it), unknown policies are refused — and the catalog's registry changes.

import CulvertCore
import CulvertSystem
import Foundation
import XCTest

@testable import CulvertManager

final class UpgradePolicyRegistryTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "culvert-policies-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)  // try?: a leftover temporary directory harms nothing
    }

    /// A registry.json as culvertd wrote it before upgrade policies existed.
    static let oldRegistry = """
        {
          "extensions" : {
            "io.culvert.test" : {
              "build" : 1, "capabilities" : ["handover"], "contentDigest" : "aaaa", "displayName" : "Test",
              "identifier" : "io.culvert.test", "installedAt" : "2026-01-01T00:00:00.000Z", "publisher" : "unsigned",
              "reason" : "installed", "signed" : false, "source" : "/src/io.culvert.test.culvertext", "state" : "enabled",
              "storePath" : "/state/extensions/store/aaaa/io.culvert.test.culvertext", "version" : "1.0.0"
            }
          },
          "format" : 1
        }
        """

    func write(_ text: String, _ name: String) throws -> String {
        let path = directory + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testAnOldRegistryLoadsWithNoPolicyAndNothingStaged() throws {
        let registry = try ExtensionRegistry.load(path: try write(Self.oldRegistry, "registry.json"))
        let info = try XCTUnwrap(registry.extensions["io.culvert.test"])
        XCTAssertNil(info.upgradePolicy)
        XCTAssertNil(info.staged)
        XCTAssertNil(info.effectiveUpgradePolicy)
        XCTAssertEqual(registry.referencedDigests, ["aaaa"])
    }

    func testAPolicyAndAStagedVersionRoundTripAndKeepTheStagedCopy() throws {
        var registry = try ExtensionRegistry.load(path: try write(Self.oldRegistry, "registry.json"))
        var info = try XCTUnwrap(registry.extensions["io.culvert.test"])
        info.upgradePolicy = .onDisconnect
        info.state = .replacing
        info.staged = StagedUpgrade(
            displayName: "Test", version: "1.1.0", build: 2, capabilities: [], source: "/src/v2", storePath: "/store/bbbb/x",
            contentDigest: "bbbb", stagedAt: "2026-01-02T00:00:00.000Z")
        registry.extensions[info.identifier] = info
        let path = directory + "/registry2.json"
        try registry.save(path: path)
        let loaded = try ExtensionRegistry.load(path: path)
        XCTAssertEqual(loaded, registry)
        XCTAssertEqual(loaded.referencedDigests, ["aaaa", "bbbb"], "gc must keep the staged copy")
        let text = String(decoding: try FileSystem.readFile(path), as: UTF8.self)
        XCTAssertTrue(text.contains("\"upgradePolicy\" : \"on-disconnect\""), text)
        XCTAssertFalse(text.contains("effectiveUpgradePolicy"), "the policy in force is never stored")
    }

    func testAnUnknownPolicyInTheRegistryDoesNotDecode() throws {
        let text = Self.oldRegistry.replacingOccurrences(
            of: "\"version\" : \"1.0.0\"", with: "\"version\" : \"1.0.0\", \"upgradePolicy\" : \"later\"")
        XCTAssertThrowsError(try ExtensionRegistry.load(path: try write(text, "registry.json")))
    }

    func testPolicyFileDefault() throws {
        XCTAssertEqual(try ExtensionPolicy.load(configDirectory: directory).defaultUpgradePolicy, .now, "no policy.json")
        _ = try write(#"{"requireApproval": false}"#, ExtensionPolicy.fileName)
        XCTAssertEqual(try ExtensionPolicy.load(configDirectory: directory).defaultUpgradePolicy, .now, "key absent")
        _ = try write(#"{"defaultUpgradePolicy": "ask"}"#, ExtensionPolicy.fileName)
        XCTAssertEqual(try ExtensionPolicy.load(configDirectory: directory).defaultUpgradePolicy, .ask)
        _ = try write(#"{"defaultUpgradePolicy": "sometime"}"#, ExtensionPolicy.fileName)
        XCTAssertThrowsError(try ExtensionPolicy.load(configDirectory: directory)) { error in
            XCTAssertTrue(error is ExtensionPolicy.Invalid, "an unknown value makes the policy invalid: \(error)")
        }
    }

    func testCatalogStagesReplacesAppliesAndDrops() throws {
        let state = directory + "/state"
        try FileManager.default.createDirectory(atPath: state + "/extensions", withIntermediateDirectories: true)
        _ = try write(Self.oldRegistry, "state/extensions/registry.json")
        var catalog = ExtensionCatalog(stateDirectory: state)
        try catalog.load(configDirectory: directory, daemonVersion: "0.1.0", time: "now")
        let installed = try XCTUnwrap(catalog.registry.extensions["io.culvert.test"])
        func offered(_ version: String, _ digest: String) -> PreparedInstall {
            var info = installed
            info.version = version
            info.contentDigest = digest
            info.storePath = "/store/\(digest)/x"
            info.installedAt = "t-\(version)"
            return PreparedInstall(outcome: .replaced, info: info, previous: installed)
        }
        let first = catalog.staging(offered("1.1.0", "bbbb"))
        XCTAssertNil(first.replacedCopy)
        XCTAssertEqual(first.info.state, .replacing)
        XCTAssertEqual(first.info.version, "1.0.0", "the running version stays registered")
        XCTAssertEqual(first.info.staged?.version, "1.1.0")
        catalog.adopt(first.next)
        let second = catalog.staging(offered("1.2.0", "cccc"))
        XCTAssertEqual(second.replacedCopy, "bbbb", "the version staged before is no longer referenced")
        catalog.adopt(second.next)
        XCTAssertEqual(catalog.registry.referencedDigests, ["aaaa", "cccc"])

        let apply = try XCTUnwrap(catalog.applyingStaged("io.culvert.test"))
        XCTAssertEqual(apply.info.version, "1.2.0")
        XCTAssertEqual(apply.info.state, .enabled)
        XCTAssertNil(apply.info.staged)
        XCTAssertEqual(apply.previous?.version, "1.0.0")
        XCTAssertEqual(apply.previous?.state, .enabled, "what sessions run is shown as enabled")

        let dropped = try catalog.droppingStaged("io.culvert.test", reason: "cancelled")
        XCTAssertEqual(dropped.dropped?.version, "1.2.0")
        XCTAssertEqual(dropped.info.state, .enabled)
        XCTAssertEqual(dropped.info.reason, "cancelled")
        catalog.adopt(try XCTUnwrap(dropped.next))
        XCTAssertNil(catalog.applyingStaged("io.culvert.test"))
        XCTAssertNil(try catalog.droppingStaged("io.culvert.test", reason: "cancelled").next, "nothing staged")
        XCTAssertThrowsError(try catalog.droppingStaged("io.culvert.none", reason: "cancelled"))

        let set = try catalog.settingPolicy("io.culvert.test", .whenIdle)
        catalog.adopt(try XCTUnwrap(set.next))
        XCTAssertEqual(catalog.upgradePolicy(of: "io.culvert.test"), .whenIdle)
        XCTAssertNil(try catalog.settingPolicy("io.culvert.test", .whenIdle).next, "unchanged")
        XCTAssertEqual(catalog.listed.first?.effectiveUpgradePolicy, .whenIdle)
        catalog.adopt(try XCTUnwrap(try catalog.settingPolicy("io.culvert.test", nil).next))
        catalog.defaultUpgradePolicy = .ask
        XCTAssertEqual(catalog.listed.first?.effectiveUpgradePolicy, .ask, "the default applies again")
        XCTAssertEqual(catalog.staging(offered("1.3.0", "dddd")).info.upgradePolicy, nil)
    }

    func testReadersSeeTheStagedVersionButNoPath() {
        var info = ExtensionInfo(
            identifier: "x", displayName: "X", version: "1.0.0", build: 1, publisher: "unsigned", signed: false, state: .replacing,
            reason: "upgrade_pending", capabilities: [], source: "/src", storePath: "/store", contentDigest: "aaaa", installedAt: "t")
        info.upgradePolicy = .ask
        info.effectiveUpgradePolicy = .ask
        info.staged = StagedUpgrade(
            displayName: "X", version: "2.0.0", build: 2, capabilities: [], source: "/src2", storePath: "/store2", contentDigest: "bbbb",
            stagedAt: "t2")
        let view = ReaderView.redacted(info)
        XCTAssertEqual(view.staged?.versionDescription, "2.0.0 (2)")
        XCTAssertEqual(view.staged?.source, "")
        XCTAssertEqual(view.staged?.storePath, "")
        XCTAssertEqual(view.effectiveUpgradePolicy, .ask)
    }
}
