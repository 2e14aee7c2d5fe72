// Contract 12 under a hostile disk: state files that are not regular files, temporary names, a
// missing or corrupt registry. Each fault has a typed outcome (a problem in GetStatus, a moved-aside
// file) and nothing acknowledged is lost. The full-disk cases are in FullDiskTests.

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

final class StorageFaultTests: XCTestCase {
    var work: TemporaryDirectory!
    var key: SigningKey!

    override func setUpWithError() throws {
        work = try TemporaryDirectory(prefix: "culvert-storage")
        key = SigningKey.generate()
    }

    override func tearDown() { work.remove() }

    func makeDaemon(requireApproval: Bool = false) throws -> DaemonProcess {
        try BundleFixture.trust(key, configDirectory: work.path + "/etc")
        try BundleFixture.policy(configDirectory: work.path + "/etc", requireApproval: requireApproval)
        let daemon = DaemonProcess(root: work.path)
        addTeardownBlock { daemon.crash() }
        return daemon
    }

    func status(_ daemon: DaemonProcess) throws -> JSONValue {
        try XCTUnwrap(try daemon.connect().call("io.culvert.Manager.GetStatus")["status"])
    }

    func problems(_ daemon: DaemonProcess) throws -> [(kind: String, path: String, movedTo: String?)] {
        try (status(daemon)["problems"]?.arrayValue ?? []).map {
            ($0["kind"]?.stringValue ?? "", $0["path"]?.stringValue ?? "", $0["movedTo"]?.stringValue)
        }
    }

    func profileNames(_ daemon: DaemonProcess) throws -> [String] {
        try (status(daemon)["profiles"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
    }

    // MARK: temporary names

    func testProfilesNamedLikeTemporaryFilesSurviveARestart() throws {
        let daemon = try makeDaemon()
        try daemon.start()
        let names = ["lab.tmp-1", "lab.json.tmp-2", "x.tmp-99999.json", "culvert-tmp-3"]
        for name in names { try daemon.connect().saveProfile(name, options: ["v": name]) }
        daemon.crash()
        // What an interrupted write leaves, from this daemon and from an older one.
        let profiles = daemon.stateDirectory + "/profiles"
        try Data("{".utf8).write(to: URL(fileURLWithPath: profiles + "/" + FileSystem.temporaryPrefix + "123-abc"))
        try Data("{".utf8).write(to: URL(fileURLWithPath: profiles + "/old.json.tmp-77"))
        try daemon.start()
        XCTAssertEqual(try profileNames(daemon), names.sorted(), "an acknowledged profile was lost")
        XCTAssertTrue(try problems(daemon).isEmpty)
        XCTAssertEqual(try FileSystem.listDirectory(profiles), names.map { $0 + ".json" }.sorted(), "leftovers not removed")
    }

    // MARK: files that are not regular files

    func testIrregularFilesInTheProfilesDirectoryAreSetAsideWithoutBlockingTheStart() throws {
        let daemon = try makeDaemon()
        try daemon.start()
        try daemon.connect().saveProfile("good", options: ["kept": "yes"])
        daemon.crash()
        let profiles = daemon.stateDirectory + "/profiles"
        let outside = work.path + "/outside.json"
        try Data("not culvert's\n".utf8).write(to: URL(fileURLWithPath: outside))
        XCTAssertEqual(mkfifo(profiles + "/fifo.json", 0o600), 0)
        XCTAssertEqual(symlink(outside, profiles + "/link.json"), 0)
        XCTAssertEqual(mkdir(profiles + "/directory.json", 0o700), 0)
        // /dev/null's numbers: major 1, minor 3 (old encoding).
        XCTAssertEqual(mknod(profiles + "/device.json", S_IFCHR | 0o600, dev_t(1 << 8 | 3)), 0)
        // A FIFO used to block the start for ever: DaemonProcess.start fails after its deadline.
        try daemon.start()

        XCTAssertEqual(try profileNames(daemon), ["good"])
        let found = try problems(daemon)
        let expected = ["device.json", "directory.json", "fifo.json", "link.json"].map { profiles + "/" + $0 }
        XCTAssertEqual(found.map(\.path).sorted(), expected)
        XCTAssertEqual(Set(found.map(\.kind)), ["not_a_regular_file"])
        for problem in found {
            let movedTo = try XCTUnwrap(problem.movedTo)
            XCTAssertTrue(movedTo.hasPrefix(daemon.stateDirectory + "/corrupt/"), movedTo)
            XCTAssertTrue(FileSystem.exists(movedTo), "\(movedTo) is gone")
            XCTAssertFalse(FileSystem.exists(problem.path))
        }
        let link = try XCTUnwrap(found.first { $0.path.hasSuffix("/link.json") }?.movedTo)
        XCTAssertEqual(try FileSystem.symbolicLinkTarget(link), outside, "the link itself was moved, not followed")
        XCTAssertEqual(try String(contentsOfFile: outside, encoding: .utf8), "not culvert's\n")
        XCTAssertEqual(try FileSystem.status(of: try XCTUnwrap(found.first { $0.path.hasSuffix("/fifo.json") }?.movedTo))?.kind, .fifo)

        // A save over a name that held a directory works now; a restart finds everything.
        try daemon.connect().saveProfile("directory", options: [:])
        daemon.crash()
        try daemon.start()
        XCTAssertEqual(try profileNames(daemon), ["directory", "good"])
        XCTAssertEqual(try problems(daemon).count, 0)
    }

    func testIrregularRegistrySpoolAndDNSStateAreSetAside() throws {
        let daemon = try makeDaemon()
        try daemon.start()
        daemon.crash()
        let registry = daemon.stateDirectory + "/extensions/registry.json"
        let spool = daemon.stateDirectory + "/spool"
        let dns = daemon.stateDirectory + "/dns"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dns, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: registry)  // a first start may not have written one
        XCTAssertEqual(mkfifo(registry, 0o600), 0)
        XCTAssertEqual(mkfifo(spool + "/request.json", 0o600), 0)
        XCTAssertEqual(symlink("/etc/passwd", spool + "/other.json"), 0)
        XCTAssertEqual(mkfifo(dns + "/dns-resolv-conf.json", 0o600), 0)
        try daemon.start()

        let found = try problems(daemon)
        let irregular = found.filter { $0.kind == "not_a_regular_file" }.map(\.path).sorted()
        XCTAssertEqual(irregular, [dns + "/dns-resolv-conf.json", registry, spool + "/other.json", spool + "/request.json"])
        let rebuilt = try XCTUnwrap(found.first { $0.kind == "registry_rebuilt" })
        XCTAssertEqual(rebuilt.path, registry)
        for path in irregular where path != registry { XCTAssertNil(try FileSystem.status(of: path), "\(path) still there") }
        XCTAssertEqual(try FileSystem.status(of: registry)?.kind, .regular, "the rebuilt (empty) registry is written")
        XCTAssertEqual(try daemon.connect().call("io.culvert.Manager.ListExtensions")["extensions"], [])
    }

    // MARK: registry.json missing or corrupt

    /// Installs v1 and v2 of alpha and v1 of beta, then puts v1's copy back into the store beside
    /// v2's (as a running provider's copy would be kept). Returns the connection-free daemon.
    private func installedDaemon(requireApproval: Bool = false) throws -> (DaemonProcess, alphaV1Digest: String) {
        let daemon = try makeDaemon(requireApproval: requireApproval)
        try daemon.start()
        let alphaV1 = try BundleFixture.make(
            in: work.path + "/src/a1", identifier: "io.culvert.alpha", version: "1.0.0", build: 1, key: key)
        let alphaV2 = try BundleFixture.make(
            in: work.path + "/src/a2", identifier: "io.culvert.alpha", version: "2.0.0", build: 1, key: key)
        let beta = try BundleFixture.make(in: work.path + "/src/b", identifier: "io.culvert.beta", key: key)
        for bundle in [alphaV1, alphaV2, beta] {
            _ = try daemon.connect().call(
                "io.culvert.Manager.InstallExtension", ["path": .string(bundle)], timeoutMilliseconds: replyTimeoutMilliseconds)
        }
        if requireApproval {
            for identifier in ["io.culvert.alpha", "io.culvert.beta"] {
                _ = try daemon.connect().call("io.culvert.Manager.ApproveExtension", ["identifier": .string(identifier)])
            }
        }
        daemon.crash()
        let digest = try BundleVerifier.verify(directory: alphaV1, trust: TrustedPublishers([key.publisherKey]), allowUnsigned: false)
            .contentDigest
        let store = daemon.stateDirectory + "/extensions/store/" + digest
        try FileSystem.createDirectory(store, mode: 0o755)
        _ = try BundleInstaller.stageCopy(from: alphaV1, into: store)
        return (daemon, digest)
    }

    private func listed(_ daemon: DaemonProcess) throws -> [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        for entry in try daemon.connect().call("io.culvert.Manager.ListExtensions")["extensions"]?.arrayValue ?? [] {
            result[entry["identifier"]?.stringValue ?? ""] = entry
        }
        return result
    }

    func testMissingRegistryIsRebuiltFromTheVerifiedStoreCopies() throws {
        let (daemon, alphaV1Digest) = try installedDaemon()
        let registry = daemon.stateDirectory + "/extensions/registry.json"
        try FileSystem.removeFile(registry)
        try daemon.start()

        let extensions = try listed(daemon)
        XCTAssertEqual(extensions.keys.sorted(), ["io.culvert.alpha", "io.culvert.beta"])
        XCTAssertEqual(extensions["io.culvert.alpha"]?["version"], "2.0.0", "the newest copy is registered")
        XCTAssertEqual(extensions["io.culvert.alpha"]?["state"], "enabled")
        XCTAssertEqual(extensions["io.culvert.alpha"]?["reason"], "recovered")
        let found = try problems(daemon)
        XCTAssertEqual(found.map(\.kind), ["registry_rebuilt"])
        XCTAssertEqual(found.first?.path, registry)
        XCTAssertNil(found.first?.movedTo)
        XCTAssertTrue(FileSystem.exists(daemon.stateDirectory + "/extensions/store/" + alphaV1Digest), "the older copy is kept for gc")
        for entry in extensions.values {
            let storePath = try XCTUnwrap(entry["storePath"]?.stringValue)
            XCTAssertNoThrow(
                try BundleVerifier.verify(directory: storePath, trust: TrustedPublishers([key.publisherKey]), allowUnsigned: false))
        }

        // The rebuilt registry was made durable: the next start reads it and reports nothing.
        daemon.crash()
        try daemon.start()
        XCTAssertEqual(try listed(daemon).keys.sorted(), ["io.culvert.alpha", "io.culvert.beta"])
        XCTAssertTrue(try problems(daemon).isEmpty)
        // gc now removes the older copy.
        _ = try daemon.connect().call("io.culvert.Manager.CollectGarbage", ["dryRun": false])
        XCTAssertFalse(FileSystem.exists(daemon.stateDirectory + "/extensions/store/" + alphaV1Digest))
    }

    func testCorruptRegistryIsMovedAsideAndRebuiltUnderThePolicy() throws {
        let (daemon, _) = try installedDaemon(requireApproval: true)
        let registry = daemon.stateDirectory + "/extensions/registry.json"
        let beta = try XCTUnwrap(try listedStorePath(daemon, "io.culvert.beta"))
        let garbage = Data("{\"format\": 1, \"extensions\": {\"io.culvert.alpha\": tru".utf8)
        try garbage.write(to: URL(fileURLWithPath: registry))
        // A copy that no longer verifies is reported and kept, never registered.
        try FileSystem.setMode(beta + "/README", 0o644)
        try Data("changed\n".utf8).write(to: URL(fileURLWithPath: beta + "/README"))
        try daemon.start()

        let extensions = try listed(daemon)
        XCTAssertEqual(extensions.keys.sorted(), ["io.culvert.alpha"])
        XCTAssertEqual(extensions["io.culvert.alpha"]?["state"], "awaiting_approval", "an approval is not assumed")
        let found = try problems(daemon)
        XCTAssertEqual(found.map(\.kind).sorted(), ["registry_rebuilt", "store_copy_unusable"])
        let rebuilt = try XCTUnwrap(found.first { $0.kind == "registry_rebuilt" })
        let movedTo = try XCTUnwrap(rebuilt.movedTo)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: movedTo)), garbage, "the corrupt registry is kept")
        XCTAssertTrue(FileSystem.exists(beta), "an unusable copy is kept")
        // Not every copy was accounted for: the registry stays unwritten, so a fix is picked up next start.
        XCTAssertFalse(FileSystem.exists(registry))
    }

    /// The store path the registry on disk gives `identifier` (read before a restart).
    private func listedStorePath(_ daemon: DaemonProcess, _ identifier: String) throws -> String? {
        let registry = try JSONDecoder().decode(
            RegistryFile.self, from: Data(contentsOf: URL(fileURLWithPath: daemon.stateDirectory + "/extensions/registry.json")))
        return registry.extensions[identifier]?.storePath
    }
}

/// registry.json as culvertd writes it (format 1).
struct RegistryFile: Codable {
    var format: Int
    var extensions: [String: ExtensionInfo]
}
