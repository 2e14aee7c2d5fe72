// culvertd under systemd's protocols: socket activation (LISTEN_FDS), readiness and watchdog
// (NOTIFY_SOCKET), and "never running without its socket".

import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class SystemdIntegrationTests: XCTestCase {
    var directory: TemporaryDirectory!
    var children: [pid_t] = []

    override func setUpWithError() throws { directory = try TemporaryDirectory(prefix: "culvert-systemd") }

    override func tearDown() {
        for pid in children {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        directory.remove()
    }

    /// Spawns culvertd through /bin/sh so LISTEN_PID can name the daemon's own pid (as systemd
    /// does after fork), with `listener` as fd 3 when given.
    func spawnDaemon(listener: Descriptor?, environment extra: [String: String]) throws -> pid_t {
        let culvertd = Products.path(of: "culvertd")
        let arguments = [
            "/bin/sh", "-c", "if [ -n \"$CULVERT_TEST_ACTIVATE\" ]; then export LISTEN_PID=$$; fi; exec \"$@\"", "sh", culvertd,
            "--state-dir", directory.file("state"), "--runtime-dir", directory.file("run"), "--config-dir", directory.file("etc"),
        ]
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LISTEN_") && $0.key != "NOTIFY_SOCKET" }
        environment.merge(extra) { _, new in new }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let log = directory.file("culvertd.log")
        posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if let listener { posix_spawn_file_actions_adddup2(&actions, listener.rawValue, 3) }
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, envp)
        XCTAssertEqual(rc, 0)
        children.append(pid)
        return pid
    }

    func waitForExit(_ pid: pid_t, seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        while Date() < deadline {
            if waitpid(pid, &status, WNOHANG) == pid {
                children.removeAll { $0 == pid }
                return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            }
            usleep(10_000)
        }
        return nil
    }

    var log: String { (try? String(contentsOfFile: directory.file("culvertd.log"), encoding: .utf8)) ?? "" }  // not written yet: empty

    func pingUntilServing(_ path: String) -> JSONValue? {
        for _ in 0..<500 {
            if let connection = try? VarlinkClientConnection(path: path),  // not ready yet: retry
                let reply = try? connection.call("io.culvert.Manager.Ping", timeoutMilliseconds: 2000)  // likewise
            {
                return reply
            }
            usleep(20_000)
        }
        return nil
    }

    func testSocketActivationAndListenerFailureIsFatal() throws {
        let path = directory.file("activated.sock")
        let listener = try UnixSocket.listen(path: path)
        defer { listener.close() }
        let pid = try spawnDaemon(
            listener: listener, environment: ["CULVERT_TEST_ACTIVATE": "1", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "io.culvert.Manager"])
        XCTAssertNotNil(pingUntilServing(path), "culvertd did not serve the activated socket:\n\(log)")
        XCTAssertFalse(FileSystem.exists(directory.file("run/io.culvert.Manager")), "it must not create its own socket when activated")
        XCTAssertTrue(log.contains("socket-activated"), log)

        // Break the shared listening socket: accept() now fails for good, and culvertd must exit
        // non-zero rather than live on without its socket.
        Glibc.shutdown(listener.rawValue, Int32(SHUT_RDWR))
        _ = try? UnixSocket.connect(path: path)  // wakes the listener; refused is expected
        let status = waitForExit(pid, seconds: 10)
        XCTAssertNotNil(status, "culvertd kept running without its listener:\n\(log)")
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(log.contains("control socket failed"), log)
    }

    func testActivatedDescriptorThatIsNotAListenerIsRefused() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        defer { fds.forEach { Glibc.close($0) } }
        let pid = try spawnDaemon(listener: Descriptor(rawValue: fds[0]), environment: ["CULVERT_TEST_ACTIVATE": "1", "LISTEN_FDS": "1"])
        let status = waitForExit(pid, seconds: 20)
        XCTAssertEqual(status, 1, log)
        XCTAssertTrue(log.contains("not a listening unix stream socket"), log)
    }

    func testReadinessAndWatchdogNotifications() throws {
        let notifyPath = directory.file("notify.sock")
        let notify = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { Glibc.close(notify) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in notifyPath.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(notify, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        _ = try spawnDaemon(listener: nil, environment: ["NOTIFY_SOCKET": notifyPath, "WATCHDOG_USEC": "200000"])

        var messages: [String] = []
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, messages.filter({ $0.contains("WATCHDOG=1") }).count < 3 {
            var pfd = pollfd(fd: notify, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 500) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(notify, &buffer, buffer.count, 0)
            if n > 0 { messages.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
        }
        XCTAssertTrue(messages.first?.hasPrefix("READY=1") == true, "\(messages)\n\(log)")
        XCTAssertGreaterThanOrEqual(messages.filter { $0 == "WATCHDOG=1" }.count, 3, "\(messages)")
    }

    func testSecondDaemonOnTheSameSocketRefusesToStart() throws {
        let first = try spawnDaemon(listener: nil, environment: [:])
        XCTAssertNotNil(pingUntilServing(directory.file("run/io.culvert.Manager")), log)
        let second = try spawnDaemon(listener: nil, environment: [:])
        XCTAssertEqual(waitForExit(second, seconds: 20), 1)
        XCTAssertTrue(log.contains("already serving"), log)
        XCTAssertNil(waitForExit(first, seconds: 0.1), "the first daemon must keep running")
        XCTAssertNotNil(pingUntilServing(directory.file("run/io.culvert.Manager")))
    }

    func testUnusableRuntimeDirectoryFailsAtStartWithAClearMessage() throws {
        XCTAssertTrue(FileManager.default.createFile(atPath: directory.file("run"), contents: Data("not a directory".utf8)))
        let pid = try spawnDaemon(listener: nil, environment: [:])
        XCTAssertEqual(waitForExit(pid, seconds: 20), 1)
        XCTAssertTrue(log.contains("cannot create the control socket"), log)
    }
}
