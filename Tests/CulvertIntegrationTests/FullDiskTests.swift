// Contract 12 on a full disk: culvertd's state directory is a small tmpfs in a private mount
// namespace (DaemonProcess.privateStateFileSystemSize), filled by the test. Every write path
// answers StorageFailed{path, errno 28}; nothing acknowledged is lost, nothing half-written is
// visible, and once space is freed everything works again.

import CulvertBundle
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class FullDiskTests: XCTestCase {
    static let stateFileSystemSize = "1m"
    static let enospc: Int64 = 28

    func testFullDiskGivesStorageFailedAndLosesNothing() throws {
        let work = try TemporaryDirectory(prefix: "culvert-fulldisk")
        let key = SigningKey.generate()
        try BundleFixture.trust(key, configDirectory: work.path + "/etc")
        try BundleFixture.policy(configDirectory: work.path + "/etc")
        let daemon = DaemonProcess(root: work.path)
        daemon.privateStateFileSystemSize = Self.stateFileSystemSize
        addTeardownBlock {
            daemon.crash()
            work.remove()
        }
        try daemon.start()
        XCTAssertFalse(try mountTable().contains(daemon.stateDirectory), "the tmpfs leaked into the host's mounts")
        let state = daemon.stateView
        XCTAssertTrue(FileSystem.isDirectory(state + "/profiles"), "the private state directory is not reachable")

        let control = try daemon.connect()
        try control.saveProfile("before", options: ["v": "1"])
        let alpha = try BundleFixture.make(in: work.path + "/src/a", identifier: "io.culvert.alpha", key: key)
        let beta = try BundleFixture.make(in: work.path + "/src/b", identifier: "io.culvert.beta", key: key)
        _ = try install(control, alpha)

        // Fill the disk.
        let filler = state + "/filler"
        _ = try runProgram("/bin/dd", ["if=/dev/zero", "of=" + filler, "bs=4k"])  // exits 1 at ENOSPC, as intended
        let stateBefore = try snapshot(state)

        let newProfile = storageFailure { try control.saveProfile("during", options: ["v": "1"]) }
        XCTAssertEqual(newProfile?.path, daemon.stateDirectory + "/profiles/during.json")
        XCTAssertEqual(newProfile?.errno, Self.enospc)
        let replaced = storageFailure { try control.saveProfile("before", options: ["v": "2"]) }
        XCTAssertEqual(replaced?.path, daemon.stateDirectory + "/profiles/before.json")
        XCTAssertEqual(replaced?.errno, Self.enospc)
        let installed = storageFailure { try self.install(control, beta) }
        XCTAssertEqual(installed?.errno, Self.enospc, "an install on a full disk is StorageFailed, not BundleRejected")
        XCTAssertTrue(
            installed?.path.hasPrefix(daemon.stateDirectory + "/extensions/") == true,
            "install failure names \(installed?.path ?? "nothing")")

        // Nothing acknowledged lost, nothing half-written visible.
        let status = try XCTUnwrap(try control.call("io.culvert.Manager.GetStatus")["status"])
        XCTAssertEqual(status["profiles"]?.arrayValue?.map { $0["name"]?.stringValue ?? "" }, ["before"])
        XCTAssertEqual(status["profiles"]?.arrayValue?.first?["options"]?["v"], "1")
        XCTAssertEqual(status["extensions"]?.arrayValue?.map { $0["identifier"]?.stringValue ?? "" }, ["io.culvert.alpha"])
        XCTAssertEqual(try snapshot(state), stateBefore, "a failed write left something behind")

        // Space freed: everything works.
        try FileSystem.removeFile(filler)
        try control.saveProfile("during", options: ["v": "1"])
        try control.saveProfile("before", options: ["v": "2"])
        XCTAssertEqual(try install(control, beta)["result"], "installed")
        XCTAssertEqual(try FileSystem.listDirectory(state + "/profiles"), ["before.json", "during.json"])
        XCTAssertEqual(try FileSystem.listDirectory(state + "/extensions/staging"), [])
        daemon.crash()
        XCTAssertFalse(try mountTable().contains(daemon.stateDirectory))
    }

    private func install(_ connection: VarlinkClientConnection, _ path: String) throws -> JSONValue {
        try connection.call("io.culvert.Manager.InstallExtension", ["path": .string(path)], timeoutMilliseconds: replyTimeoutMilliseconds)
    }

    /// The StorageFailed parameters of a call that must fail with it; nil (and a test failure) otherwise.
    private func storageFailure(
        file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> JSONValue
    ) -> (path: String, errno: Int64)? {
        do {
            let reply = try body()
            XCTFail("accepted on a full disk: \(reply.jsonString)", file: file, line: line)
        } catch VarlinkClientError.remote(let error) where error.name == "io.culvert.Manager.StorageFailed" {
            let path = error.parameters["path"]?.stringValue ?? ""
            XCTAssertFalse(path.isEmpty, "StorageFailed without a path", file: file, line: line)
            return (path, error.parameters["errno"]?.intValue ?? 0)
        } catch {
            XCTFail("expected StorageFailed, got \(error)", file: file, line: line)
        }
        return nil
    }

    /// Every path below `root` (the filler excluded) with its size: what a client could see.
    private func snapshot(_ root: String) throws -> [String: Int] {
        var result: [String: Int] = [:]
        let enumerator = try XCTUnwrap(FileManager.default.enumerator(atPath: root))
        while let relative = enumerator.nextObject() as? String {
            guard relative != "filler" else { continue }
            let attributes = try FileManager.default.attributesOfItem(atPath: root + "/" + relative)
            result[relative] = (attributes[.size] as? Int) ?? -1
        }
        return result
    }

    private func mountTable() throws -> String { try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) }
}
