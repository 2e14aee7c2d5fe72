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

    /// A private leaf does not make its missing parents private (a spooled install once made
    /// /var/lib/culvert 0700 this way, and no provider could reach its store copy).
    func testCreateDirectoryGivesOnlyTheLeafItsMode() throws {
        let base = NSTemporaryDirectory() + "culvert-mkdir-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: base) }  // try?: cleanup of a temporary tree
        let saved = umask(0o022)
        defer { umask(saved) }
        try FileSystem.createDirectory(base + "/a/b/leaf", mode: 0o700)
        func mode(_ path: String) throws -> UInt32? { try FileSystem.status(of: path)?.permissions }
        XCTAssertEqual(try mode(base), 0o755)
        XCTAssertEqual(try mode(base + "/a/b"), 0o755)
        XCTAssertEqual(try mode(base + "/a/b/leaf"), 0o700)
        try FileSystem.createDirectory(base + "/a/b/leaf", mode: 0o755)  // existing: left as it is
        XCTAssertEqual(try mode(base + "/a/b/leaf"), 0o700)
    }

    /// After dpkg renamed a new binary over the running one, /proc/self/exe reads "PATH (deleted)":
    /// the re-exec target is PATH; a file really named like that is kept.
    func testReexecutablePathDropsTheKernelsDeletedSuffix() throws {
        XCTAssertEqual(ProcessImage.reexecutablePath(fromExecutableLink: "/usr/sbin/culvertd (deleted)"), "/usr/sbin/culvertd")
        XCTAssertEqual(ProcessImage.reexecutablePath(fromExecutableLink: "/usr/sbin/culvertd"), "/usr/sbin/culvertd")
        let odd = NSTemporaryDirectory() + "culvert-odd-\(getpid()) (deleted)"
        XCTAssertTrue(FileManager.default.createFile(atPath: odd, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: odd) }  // try?: cleanup of a temporary file
        XCTAssertEqual(ProcessImage.reexecutablePath(fromExecutableLink: odd), odd)
    }
}
