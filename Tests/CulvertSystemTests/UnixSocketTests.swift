import CulvertSystem
import Foundation
import XCTest

final class UnixSocketTests: XCTestCase {
    func testPeerCredentialsAreTheConnectingProcess() throws {
        let path = NSTemporaryDirectory() + "culvert-sock-\(UUID().uuidString.prefix(8))"
        let listener = try UnixSocket.listen(path: path)
        defer {
            listener.close()
            try? FileSystem.removeFile(path)  // best effort cleanup
        }
        XCTAssertTrue(try UnixSocket.isListener(listener))
        let client = try UnixSocket.connect(path: path)
        defer { client.close() }
        var accepted: Descriptor?
        for _ in 0..<100 where accepted == nil {
            accepted = try UnixSocket.accept(listener)
            if accepted == nil { usleep(1000) }
        }
        let server = try XCTUnwrap(accepted)
        defer { server.close() }
        XCTAssertFalse(try UnixSocket.isListener(server))
        let peer = try UnixSocket.peerCredentials(server)
        XCTAssertEqual(peer.pid, getpid())
        XCTAssertEqual(peer.uid, getuid())
        XCTAssertEqual(peer.gid, getgid())
    }

    func testConnectToMissingSocketIsATypedError() {
        XCTAssertThrowsError(try UnixSocket.connect(path: "/nonexistent/culvert.sock")) { error in
            XCTAssertEqual((error as? SystemError)?.errno, Syscall.ENOENT)
        }
        XCTAssertThrowsError(try UnixSocket.listen(path: String(repeating: "x", count: 200)))
    }

    func testSendOnClosedPeerIsEPIPENotSignal() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        let a = Descriptor(rawValue: fds[0])
        Descriptor(rawValue: fds[1]).close()
        defer { a.close() }
        XCTAssertThrowsError(try a.sendAll(Array("x".utf8))) { error in
            XCTAssertEqual((error as? SystemError)?.errno, Syscall.EPIPE)
        }
    }
}
