// CulvertSystem's DirectoryHandle and FileStatus, tested here where the bundle walk depends on them.

import CulvertSystem
import Foundation
import XCTest

final class DirectoryHandleTests: XCTestCase {
    func testSymlinksAreNeverFollowed() throws {
        let fixture = try BundleFixture()
        try Damage.symlink("bin", at: fixture.file("bin-link"))
        try Damage.symlink("bin/provider", at: fixture.file("provider-link"))
        let root = try DirectoryHandle.open(path: fixture.path)
        defer { root.close() }
        XCTAssertEqual(try root.status(of: "bin-link").kind, .symbolicLink)
        XCTAssertEqual(try root.symbolicLinkTarget(named: "bin-link"), "bin")
        XCTAssertThrowsError(try root.openDirectory(named: "bin-link")) { error in
            XCTAssertTrue([Syscall.ELOOP, Syscall.ENOTDIR].contains((error as? SystemError)?.errno), "\(error)")
        }
        XCTAssertThrowsError(try root.openFileForReading(named: "provider-link")) { error in
            XCTAssertEqual((error as? SystemError)?.errno, Syscall.ELOOP)
        }
        XCTAssertThrowsError(try DirectoryHandle.open(path: fixture.file("bin-link"))) { error in
            XCTAssertTrue([Syscall.ELOOP, Syscall.ENOTDIR].contains((error as? SystemError)?.errno), "\(error)")
        }
        XCTAssertThrowsError(try root.createFile(named: "provider-link", permissions: 0o600)) { error in
            XCTAssertEqual((error as? SystemError)?.errno, Syscall.EEXIST, "O_EXCL: never write through a symlink")
        }
    }

    func testEntriesAreSortedWithoutDotsAndRepeatable() throws {
        let fixture = try BundleFixture()
        let root = try DirectoryHandle.open(path: fixture.path)
        defer { root.close() }
        XCTAssertEqual(try root.entryNames(), ["bin", "manifest.json", "share"])
        XCTAssertEqual(try root.entryNames(), ["bin", "manifest.json", "share"], "a second listing starts from the beginning")
    }

    /// A FIFO swapped in after a check must not block the reader.
    func testOpeningAFIFOForReadingDoesNotBlock() throws {
        let fixture = try BundleFixture()
        try Damage.mkfifo(fixture.file("fifo"))
        let root = try DirectoryHandle.open(path: fixture.path)
        defer { root.close() }
        let fifo = try root.openFileForReading(named: "fifo")
        defer { fifo.close() }
        XCTAssertEqual(try fifo.status().kind, .fifo)
    }

    func testFileStatusReportsTypeBitsAndLinks() throws {
        let fixture = try BundleFixture()
        try Damage.chmod(fixture.file("bin/provider"), 0o6755)
        try Damage.hardLink(fixture.file("share/readme.txt"), at: fixture.base + "/second-name")
        let root = try DirectoryHandle.open(path: fixture.path)
        defer { root.close() }
        let provider = try root.status(of: "bin/provider")
        XCTAssertEqual(provider.kind, .regular)
        XCTAssertEqual(provider.permissions, 0o6755)
        XCTAssertTrue(provider.isSetUserID && provider.isSetGroupID && !provider.isSticky && provider.isExecutable)
        XCTAssertEqual(try root.status(of: "share/readme.txt").linkCount, 2)
        XCTAssertEqual(try root.status(of: "share").kind, .directory)
    }
}
