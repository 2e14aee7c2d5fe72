// UnixSocketBeneathTests: connecting to a socket file in a directory someone else controls
// reaches exactly that socket; a symlink or any other file in its place is refused unfollowed.

import CulvertSystem
import Foundation
import XCTest

final class UnixSocketBeneathTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "culvert-usb-\(UUID().uuidString)"
        try FileSystem.createDirectory(directory, mode: 0o700)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }  // best effort cleanup

    func testConnectsToTheSocketAndRefusesLinksAndOtherFiles() throws {
        let listener = try UnixSocket.listen(path: directory + "/sock")
        defer { listener.close() }
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: directory + "/sock")
        try FileSystem.writeAtomically([1], to: directory + "/file")
        let handle = try DirectoryHandle.open(path: directory)
        defer { handle.close() }

        let (connection, socketFile) = try UnixSocket.connect(in: handle, name: "sock")
        defer { connection.close() }
        XCTAssertEqual(socketFile.kind, .socket)
        XCTAssertEqual(socketFile.ownerID, getuid())
        XCTAssertEqual(try UnixSocket.peerCredentials(connection).pid, getpid())

        let refusals: [(String, Int32)] = [("link", ELOOP), ("file", ENOTSOCK), ("absent", ENOENT), ("../x", EINVAL)]
        for (name, code) in refusals {
            XCTAssertThrowsError(try UnixSocket.connect(in: handle, name: name), name) { error in
                XCTAssertEqual((error as? SystemError)?.errno, code, "\(name): \(error)")
            }
        }
    }
}
