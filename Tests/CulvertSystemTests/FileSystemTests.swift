import CulvertSystem
import Foundation
import XCTest

final class FileSystemTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "culvert-fs-\(UUID().uuidString)"
        try FileSystem.createDirectory(directory + "/a/b", mode: 0o700)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }  // best effort cleanup

    func testAtomicWriteReplacesContentAndSetsExactMode() throws {
        let path = directory + "/a/b/file.json"
        try FileSystem.writeAtomically(Array("one".utf8), to: path, mode: 0o600)
        XCTAssertEqual(try FileSystem.readFile(path), Array("one".utf8))
        XCTAssertEqual(FileSystem.mode(of: path), 0o600)
        try FileSystem.writeAtomically(Array("two, longer".utf8), to: path, mode: 0o644)
        XCTAssertEqual(try FileSystem.readFile(path), Array("two, longer".utf8))
        XCTAssertEqual(FileSystem.mode(of: path), 0o644)
        XCTAssertEqual(try FileSystem.listDirectory(directory + "/a/b"), ["file.json"], "no temp file left behind")
    }

    func testAtomicWriteFailureLeavesOldContent() throws {
        let path = directory + "/a/b/file"
        try FileSystem.writeAtomically(Array("old".utf8), to: path)
        // A directory in the way of the rename: the write fails and the old file is untouched.
        XCTAssertThrowsError(try FileSystem.writeAtomically(Array("new".utf8), to: directory + "/a")) { error in
            XCTAssertNotNil(error as? SystemError)
        }
        XCTAssertEqual(try FileSystem.readFile(path), Array("old".utf8))
        XCTAssertEqual(try FileSystem.listDirectory(directory), ["a"])
    }

    func testReadRefusesSymlinksAndReportsMissingFiles() throws {
        let target = directory + "/target"
        try FileSystem.writeAtomically(Array("x".utf8), to: target)
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: target)
        XCTAssertThrowsError(try FileSystem.readFile(directory + "/link"))
        XCTAssertThrowsError(try FileSystem.readFile(directory + "/missing")) { error in
            XCTAssertEqual((error as? SystemError)?.errno, Syscall.ENOENT)
            XCTAssertEqual((error as? SystemError)?.path, self.directory + "/missing")
        }
    }
}
