import CulvertSystem
import Foundation
import XCTest

@testable import CulvertBundle

final class StageCopyTests: XCTestCase {
    /// The installed-copy contract: read-only, root-owned, verifiable, and independent of the source.
    func testCopyIsReadOnlyRootOwnedVerifiableAndIndependent() throws {
        try requireRoot()
        let fixture = try BundleFixture()
        let source = try BundleSigner.sign(directory: fixture.path, key: fixture.key)
        let originals = try Dictionary(
            uniqueKeysWithValues: (source.files.map(\.path) + [BundleFormat.signatureFileName]).map { ($0, try fixture.read($0)) })

        let staging = fixture.base + "/staging"
        try FileSystem.createDirectory(staging, mode: 0o700)
        let copy = try BundleInstaller.stageCopy(from: fixture.path, into: staging)
        XCTAssertEqual(copy, staging + "/com.example.vpn.culvertext")

        let verified = try BundleVerifier.verify(directory: copy, trust: fixture.trust, allowUnsigned: false)
        XCTAssertEqual(verified.contentDigest, source.contentDigest)
        XCTAssertEqual(verified.publisher, source.publisher)

        let expectedModes: [String: UInt32] = [
            ".": 0o555, "bin": 0o555, "share": 0o555, "bin/provider": 0o555, "manifest.json": 0o444, "share/readme.txt": 0o444,
            "signature.json": 0o444,
        ]
        for (relative, mode) in expectedModes {
            let status = try status(copy, relative)
            XCTAssertEqual(status.permissions, mode, relative)
            XCTAssertEqual(status.ownerID, 0, relative)
            XCTAssertEqual(status.groupID, 0, relative)
            XCTAssertFalse(status.isSameFile(as: try self.status(fixture.path, relative)), "\(relative) shares an inode with the source")
            if status.kind == .regular { XCTAssertEqual(status.linkCount, 1, relative) }
        }

        // Change the source in place (same inodes), then delete it: the copy does not notice.
        try overwriteInPlace(fixture.file("bin/provider"), with: Array("#!/bin/sh\nrm -rf /\n".utf8))
        try overwriteInPlace(fixture.file(BundleFormat.manifestFileName), with: Array("{}".utf8))
        try Damage.remove(fixture.file("share/readme.txt"))
        XCTAssertEqual(try BundleVerifier.verify(directory: copy, trust: fixture.trust, allowUnsigned: false), verified)
        try Damage.removeDirectory(fixture.path)
        XCTAssertEqual(try BundleVerifier.verify(directory: copy, trust: fixture.trust, allowUnsigned: false), verified)
        for (relative, bytes) in originals {
            XCTAssertEqual(try FileSystem.readFile(copy + "/" + relative), bytes, "\(relative) is byte-identical to what was signed")
        }
        XCTAssertEqual(try FileSystem.listDirectory(copy), ["bin", "manifest.json", "share", "signature.json"])
    }

    /// The intended flow: content is judged on the copy, so a tampered source yields a refused copy.
    func testTamperedContentIsCopiedThenRefusedByVerifyingTheCopy() throws {
        let fixture = try BundleFixture()
        try fixture.sign()
        try fixture.flipBit("bin/provider", byte: 3)
        let staging = fixture.base + "/staging"
        try FileSystem.createDirectory(staging)
        let copy = try BundleInstaller.stageCopy(from: fixture.path, into: staging)
        XCTAssertEqual(
            bundleError { () throws(BundleError) in try BundleVerifier.verify(directory: copy, trust: fixture.trust, allowUnsigned: false)
            },
            .fileHashMismatch(path: "bin/provider"))
    }

    func testUnsignedCopyVerifiesOnlyInDeveloperMode() throws {
        let fixture = try BundleFixture()
        let staging = fixture.base + "/staging"
        try FileSystem.createDirectory(staging)
        let copy = try BundleInstaller.stageCopy(from: fixture.path, into: staging)
        XCTAssertEqual(
            bundleError { () throws(BundleError) in try BundleVerifier.verify(directory: copy, trust: .none, allowUnsigned: false) },
            .unsignedBundle)
        XCTAssertEqual(try BundleVerifier.verify(directory: copy, trust: .none, allowUnsigned: true).publisher, .unsigned)
    }

    func testDestinationMustNotExistAndStagingMustExist() throws {
        let fixture = try BundleFixture()
        let staging = fixture.base + "/staging"
        try FileSystem.createDirectory(staging)
        let copy = try BundleInstaller.stageCopy(from: fixture.path, into: staging)
        XCTAssertEqual(
            bundleError { () throws(BundleError) in try BundleInstaller.stageCopy(from: fixture.path, into: staging) },
            .stagingDestinationExists(path: copy))
        // A staging directory that cannot be opened is the destination failing, named by its path.
        XCTAssertEqual(
            bundleError { () throws(BundleError) in try BundleInstaller.stageCopy(from: fixture.path, into: fixture.base + "/none") },
            .copyFailed(SystemError(call: "open", errno: Syscall.ENOENT, path: fixture.base + "/none")))
    }

    /// Nested directories are recreated and sealed bottom-up; an empty one is copied too.
    func testNestedTreeIsCopiedExactly() throws {
        let fixture = try BundleFixture()
        try fixture.write("lib/a/b/c/data.bin", (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try fixture.write("lib/a/empty.txt", [])
        try fixture.sign()
        let staging = fixture.base + "/staging"
        try FileSystem.createDirectory(staging)
        let copy = try BundleInstaller.stageCopy(from: fixture.path, into: staging)
        let verified = try BundleVerifier.verify(directory: copy, trust: fixture.trust, allowUnsigned: false)
        XCTAssertEqual(
            verified.files.map(\.path), ["bin/provider", "lib/a/b/c/data.bin", "lib/a/empty.txt", "manifest.json", "share/readme.txt"])
        XCTAssertEqual(try FileSystem.readFile(copy + "/lib/a/b/c/data.bin"), try fixture.read("lib/a/b/c/data.bin"))
        XCTAssertEqual(try status(copy, "lib/a/b").permissions, 0o555)
    }

    private func status(_ root: String, _ relative: String) throws -> FileStatus {
        let directory = try DirectoryHandle.open(path: root)
        defer { directory.close() }
        return relative == "." ? try directory.status() : try directory.status(of: relative)
    }

    private func overwriteInPlace(_ path: String, with bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_TRUNC)
        XCTAssertGreaterThanOrEqual(fd, 0, path)
        let descriptor = Descriptor(rawValue: fd)
        defer { descriptor.close() }
        try descriptor.writeAll(bytes)
    }
}
