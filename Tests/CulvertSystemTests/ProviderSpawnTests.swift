// Real-process tests of ProviderSpawn: the child really runs as `nobody` with no capabilities,
// no_new_privs, a clean environment and exactly fds 0–4, checked from inside the child through
// /proc. Tests that touch a TUN or try to change the network run on a dedicated thread that has
// unshared its own network namespace; the child is forked from that thread and inherits it.

import CulvertSystem
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Bound on every wait for a child's output or exit.
private let childTimeout: Duration = .seconds(20)
/// Bound on a namespaced test body.
private let namespaceBodyTimeoutSeconds = 60.0
/// The TUN device's name (inside the private namespace only).
private let tunName = "culvsp0"

/// A failure from a worker thread, handed to the test's thread.
private final class ThreadOutcome: @unchecked Sendable {  // written by the worker before `done` is signalled, read after
    var failure: String?
    let done = DispatchSemaphore(value: 0)
}

private struct TestFailure: Error, CustomStringConvertible {
    var description: String
}

/// Runs `body` on a new thread (bounded wait) and reports what it threw as a test failure.
private func onDedicatedThread(file: StaticString = #filePath, line: UInt = #line, _ body: @escaping @Sendable () throws -> Void) {
    let outcome = ThreadOutcome()
    let thread = Thread {
        defer { outcome.done.signal() }
        do {
            try body()
        } catch {
            outcome.failure = "\(error)"
        }
    }
    thread.start()
    guard outcome.done.wait(timeout: .now() + namespaceBodyTimeoutSeconds) == .success else {
        XCTFail("test body did not finish", file: file, line: line)
        return
    }
    if let failure = outcome.failure { XCTFail(failure, file: file, line: line) }
}

/// Runs `body` on a new thread that first moves into a network namespace of its own.
private func inPrivateNetworkNamespace(file: StaticString = #filePath, line: UInt = #line, _ body: @escaping @Sendable () throws -> Void) {
    onDedicatedThread(file: file, line: line) {
        try NetworkNamespace.enterNewNamespaceOnCurrentThread()
        let own = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self/ns/net")
        let host = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(getpid())/ns/net")
        guard own != host else { throw TestFailure(description: "still in the host's network namespace") }
        try body()
    }
}

/// A connected AF_UNIX stream socketpair (close-on-exec), as culvertd makes for a provider channel.
private func socketPair() throws -> (Descriptor, Descriptor) { try DescriptorPassing.socketPair() }

/// What descriptor N of the calling thread points at, e.g. `socket:[1234]` (thread-self: a thread may have
/// its own descriptor table).
private func linkTarget(_ descriptor: Descriptor) throws -> String {
    try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self/fd/\(descriptor.rawValue)")
}

private func nobody() throws -> ProviderCredentials {
    try ProviderCredentials.lookUp(userNamed: "nobody")
}

/// Runs `/bin/sh -c script` as nobody with the given fds 3 and 4, collects all its output and its exit.
private func runShell(
    _ script: String, tun: Descriptor, channel: Descriptor, environment: [String: String] = [:], log: ProcessLog = ProcessLog()
) throws -> (process: SpawnedProcess, exit: ProcessExit, log: ProcessLog) {
    let spawn = ProviderSpawn(
        executablePath: "/bin/sh", arguments: ["-c", script], credentials: try nobody(), extraEnvironment: environment)
    let process = try spawn.spawn(tun: tun, channel: channel)
    defer { process.close() }
    var log = log
    guard try process.collectOutput(into: &log, timeout: childTimeout) == .endOfFile else {
        try process.kill()
        _ = try process.waitForExit(timeout: childTimeout)
        throw TestFailure(description: "child output did not end; so far: \(log.lines)")
    }
    guard let exit = try process.waitForExit(timeout: childTimeout) else {
        try process.kill()
        _ = try process.waitForExit(timeout: childTimeout)
        throw TestFailure(description: "child did not exit")
    }
    return (process, exit, log)
}

/// The lines between `=== name` and the next `===` marker.
private func section(_ name: String, of lines: [String]) -> [String] {
    guard let start = lines.firstIndex(of: "=== \(name)") else { return [] }
    return Array(lines[(start + 1)...].prefix { !$0.hasPrefix("=== ") })
}

/// `Name:\tvalue` fields of /proc/PID/status lines.
private func statusFields(_ lines: [String]) -> [String: String] {
    var fields: [String: String] = [:]
    for line in lines {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return fields
}

final class ProviderSpawnTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(geteuid() == 0, "spawning as another user needs root")
    }

    /// The contract-8 process: identity, capabilities, no_new_privs, descriptors, environment, and
    /// fd 3 / fd 4 being the real TUN and the real channel.
    func testProviderRunsUnprivilegedWithOnlyTunAndChannel() throws {
        inPrivateNetworkNamespace {
            let tun = try TunDevice.create(name: tunName)
            defer { tun.descriptor.close() }
            let (ours, theirs) = try socketPair()
            defer {
                ours.close()
                theirs.close()
            }
            let script = """
                echo "=== status"; grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/$$/status
                echo "=== fds"; ls -1 /proc/$$/fd
                echo "=== environ"; tr '\\0' '\\n' < /proc/$$/environ
                echo "=== links"; readlink /proc/$$/fd/3 /proc/$$/fd/4
                echo "=== tun"; grep '^iff:' /proc/$$/fdinfo/3
                echo "=== pid"; echo $$
                echo "=== session"; cut -d' ' -f6 /proc/$$/stat
                echo "=== end"; printf provider-hello >&4
                """
            let (process, exit, log) = try runShell(script, tun: tun.descriptor, channel: theirs, environment: ["CULVERT_SESSION": "s1"])
            XCTAssertEqual(exit, .exited(0), "\(log.lines)")
            let credentials = try nobody()
            XCTAssertNotEqual(credentials.userID, 0)

            let status = statusFields(section("status", of: log.lines))
            XCTAssertEqual(status["Uid"], Array(repeating: "\(credentials.userID)", count: 4).joined(separator: "\t"))
            XCTAssertEqual(status["Gid"], Array(repeating: "\(credentials.groupID)", count: 4).joined(separator: "\t"))
            XCTAssertEqual(status["Groups"], "")
            for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
                XCTAssertEqual(status[field], "0000000000000000", field)
            }
            XCTAssertEqual(status["NoNewPrivs"], "1")

            XCTAssertEqual(section("fds", of: log.lines), ["0", "1", "2", "3", "4"])
            XCTAssertEqual(
                section("environ", of: log.lines).sorted(),
                [
                    "CULVERT_SESSION=s1", "LISTEN_FDNAMES=tun:channel", "LISTEN_FDS=2", "LISTEN_PID=\(process.processID)",
                    "PATH=/usr/bin:/bin",
                ])
            XCTAssertEqual(section("links", of: log.lines), ["/dev/net/tun", try linkTarget(theirs)])
            XCTAssertEqual(section("tun", of: log.lines).map { $0.replacingOccurrences(of: "\t", with: " ") }, ["iff: \(tunName)"])
            XCTAssertEqual(section("pid", of: log.lines), ["\(process.processID)"])
            XCTAssertEqual(section("session", of: log.lines), ["\(process.processID)"], "the provider leads its own session")

            var received: [UInt8] = []
            while received.count < 14, try ours.waitReadable(timeoutMilliseconds: 5000) {
                guard try ours.read(appendingTo: &received, maximum: 64) > 0 else { break }
            }
            XCTAssertEqual(String(decoding: received, as: UTF8.self), "provider-hello")
        }
    }

    /// Without CAP_NET_ADMIN the provider cannot change even the namespace it lives in.
    func testProviderCannotChangeTheNetwork() throws {
        inPrivateNetworkNamespace {
            let tun = try TunDevice.create(name: tunName)
            defer { tun.descriptor.close() }
            let (ours, theirs) = try socketPair()
            defer {
                ours.close()
                theirs.close()
            }
            let script = """
                /usr/sbin/ip link add culvdum0 type dummy; echo "link-rc=$?"
                /usr/sbin/ip addr add 10.201.0.1/32 dev \(tunName); echo "addr-rc=$?"
                /usr/sbin/ip link set \(tunName) up; echo "up-rc=$?"
                """
            let (_, exit, log) = try runShell(script, tun: tun.descriptor, channel: theirs)
            XCTAssertEqual(exit, .exited(0))
            XCTAssertEqual(log.lines.filter { $0.contains("Operation not permitted") }.count, 3, "\(log.lines)")
            for name in ["link-rc", "addr-rc", "up-rc"] {
                XCTAssertTrue(log.lines.contains { $0.hasPrefix("\(name)=") && $0 != "\(name)=0" }, "\(name): \(log.lines)")
            }
            XCTAssertEqual(if_nametoindex("culvdum0"), 0, "the dummy link must not exist")
        }
    }

    /// Sources already sitting on 3 and 4, swapped (TUN on 4, channel on 3), still end up right.
    /// Runs on a thread with its own copy of the descriptor table (unshare(CLONE_FILES)), so taking
    /// over 3 and 4 there leaves the test process's own 3 and 4 alone.
    func testDescriptorsAlreadyOnThreeAndFourAreSwappedCorrectly() throws {
        onDedicatedThread {
            try DescriptorTable.unshareOnCurrentThread()
            let (tunStandIn, tunPeer) = try socketPair()
            let (channel, channelPeer) = try socketPair()
            // This thread's table only: whatever the process has on 3 and 4 stays open in the shared one.
            guard dup2(channel.rawValue, 3) == 3, dup2(tunStandIn.rawValue, 4) == 4 else {
                throw TestFailure(description: "dup2: errno \(errno)")
            }
            [tunStandIn, channel, tunPeer, channelPeer].forEach { $0.close() }
            let onThree = Descriptor(rawValue: 3)  // the channel
            let onFour = Descriptor(rawValue: 4)  // the TUN stand-in
            let expected = [try linkTarget(onFour), try linkTarget(onThree), "0", "1", "2", "3", "4"]
            let (_, exit, log) = try runShell(
                "readlink /proc/$$/fd/3 /proc/$$/fd/4; ls -1 /proc/$$/fd", tun: onFour, channel: onThree)
            guard exit == .exited(0), log.lines == expected else {
                throw TestFailure(description: "\(exit): \(log.lines), expected \(expected)")
            }
        }
    }

    /// A blocked and an ignored signal in culvertd do not reach the provider. Checked on the exec'd
    /// process itself (grep reading its own status), since a shell changes its mask while it forks.
    func testSignalMaskAndDispositionsAreReset() throws {
        onDedicatedThread {
            var blocked = sigset_t()
            sigemptyset(&blocked)
            sigaddset(&blocked, SIGUSR1)
            guard pthread_sigmask(SIG_BLOCK, &blocked, nil) == 0 else { throw TestFailure(description: "pthread_sigmask") }
            let previous = Glibc.signal(SIGUSR2, SIG_IGN)
            defer { _ = Glibc.signal(SIGUSR2, previous) }
            let (a, b) = try socketPair()
            defer {
                a.close()
                b.close()
            }
            let spawn = ProviderSpawn(
                executablePath: "/usr/bin/grep", arguments: ["-E", "^(SigBlk|SigIgn):", "/proc/self/status"], credentials: try nobody())
            let process = try spawn.spawn(tun: a, channel: b)
            defer { process.close() }
            var log = ProcessLog()
            _ = try process.collectOutput(into: &log, timeout: childTimeout)
            let exit = try process.waitForExit(timeout: childTimeout)
            let fields = statusFields(log.lines)
            guard exit == .exited(0), fields["SigBlk"] == "0000000000000000", fields["SigIgn"] == "0000000000000000" else {
                throw TestFailure(description: "\(String(describing: exit)): \(log.lines)")
            }
        }
    }

    func testExitCodesAndSignalsAreReported() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        XCTAssertEqual(try runShell("echo bye; exit 7", tun: a, channel: b).exit, .exited(7))
        XCTAssertEqual(try runShell("kill -KILL $$", tun: a, channel: b).exit, .signaled(SIGKILL))

        let sleeper = try ProviderSpawn(executablePath: "/bin/sleep", arguments: ["30"], credentials: nobody()).spawn(tun: a, channel: b)
        defer { sleeper.close() }
        XCTAssertNil(try sleeper.waitForExit(timeout: .milliseconds(200)), "sleep 30 is still running")
        XCTAssertTrue(try sleeper.terminate())
        XCTAssertEqual(try sleeper.waitForExit(timeout: childTimeout), .signaled(SIGTERM))
        XCTAssertFalse(try sleeper.kill(), "a reaped process cannot be signalled")
    }

    func testExecOfMissingFileThrowsTypedError() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let spawn = ProviderSpawn(executablePath: "/nonexistent/culvert-provider", credentials: try nobody())
        XCTAssertThrowsError(try spawn.spawn(tun: a, channel: b)) { error in
            XCTAssertEqual(error as? SpawnError, .executableNotFound(path: "/nonexistent/culvert-provider"))
        }
        XCTAssertLessThanOrEqual(waitpid(-1, nil, WNOHANG), 0, "the failed child was already reaped: no zombie")
    }

    func testExecOfNonExecutableFileThrowsTypedError() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("culvert-spawn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(at: directory) }  // best effort: a leftover in /tmp is harmless
        let file = directory.appendingPathComponent("provider")
        try Data("#!/bin/sh\necho hi\n".utf8).write(to: file)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        let spawn = ProviderSpawn(executablePath: file.path, credentials: try nobody())
        XCTAssertThrowsError(try spawn.spawn(tun: a, channel: b)) { error in
            guard case .notExecutable(let path, let underlying) = error as? SpawnError else {
                return XCTFail("expected notExecutable, got \(error)")
            }
            XCTAssertEqual(path, file.path)
            XCTAssertEqual(underlying.errno, EACCES)
        }
    }

    func testInvalidRequestsAreRefusedBeforeForking() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let user = try nobody()
        let requests = [
            ProviderSpawn(executablePath: "bin/sh", credentials: user),
            ProviderSpawn(executablePath: "/bin/sh", credentials: ProviderCredentials(userID: 0, groupID: user.groupID)),
            ProviderSpawn(executablePath: "/bin/sh", credentials: ProviderCredentials(userID: user.userID, groupID: 0)),
            ProviderSpawn(executablePath: "/bin/sh", credentials: user, extraEnvironment: ["LISTEN_FDS": "3"]),
            ProviderSpawn(executablePath: "/bin/sh", credentials: user, extraEnvironment: ["A=B": "c"]),
            ProviderSpawn(executablePath: "/bin/sh", arguments: ["a\0b"], credentials: user),
        ]
        for request in requests {
            XCTAssertThrowsError(try request.spawn(tun: a, channel: b)) { error in
                guard case .invalidRequest = error as? SpawnError else { return XCTFail("expected invalidRequest, got \(error)") }
            }
        }
        XCTAssertThrowsError(try ProviderSpawn(executablePath: "/bin/sh", credentials: user).spawn(tun: a, channel: a))
        XCTAssertThrowsError(try ProviderCredentials.lookUp(userNamed: "culvert-no-such-user")) { error in
            XCTAssertEqual(error as? SpawnError, .userNotFound("culvert-no-such-user"))
        }
    }

    /// stdout and stderr both reach the log; past the ring's limit only the newest lines remain.
    func testOutputBeyondTheRingLimitKeepsTheNewestLines() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let script = "i=0; while [ $i -lt 1000 ]; do echo out$i; i=$((i+1)); done; echo last-on-stderr >&2"
        let (_, exit, log) = try runShell(script, tun: a, channel: b)
        XCTAssertEqual(exit, .exited(0))
        XCTAssertEqual(log.lines.count, ProcessLog.defaultMaximumLines)
        XCTAssertEqual(log.droppedLineCount, 1001 - ProcessLog.defaultMaximumLines)
        XCTAssertEqual(log.lines.first, "out\(1001 - ProcessLog.defaultMaximumLines)")
        XCTAssertEqual(log.lastLines(2), ["out999", "last-on-stderr"])
    }
}

/// ProcessLog alone (no processes, no root).
final class ProcessLogTests: XCTestCase {
    func testLinesSplitAcrossChunksAndUnterminatedTail() {
        var log = ProcessLog()
        log.append(Array("one\ntw".utf8))
        log.append(Array("o\r\nthr".utf8))
        XCTAssertEqual(log.lines, ["one", "two"])
        log.finish()
        XCTAssertEqual(log.lines, ["one", "two", "thr"])
        XCTAssertEqual(log.lastLines(2), ["two", "thr"])
        XCTAssertEqual(log.lastLines(10), ["one", "two", "thr"])
    }

    func testLineAndByteLimits() {
        var log = ProcessLog(maximumLines: 100, maximumBytes: 30, maximumLineLength: 10)
        log.append(Array(String(repeating: "x", count: 25).utf8))
        log.finish()
        XCTAssertEqual(log.lines, ["xxxxxxxxxx", "xxxxxxxxxx", "xxxxx"], "long lines are cut at maximumLineLength")
        log.append(Array("abcdefghij\n0123456789\n".utf8))
        XCTAssertLessThanOrEqual(log.retainedBytes, 30)
        XCTAssertEqual(log.lines, ["xxxxx", "abcdefghij", "0123456789"])
        XCTAssertEqual(log.droppedLineCount, 2)

        var short = ProcessLog(maximumLines: 3, maximumBytes: 3000, maximumLineLength: 100)
        for i in 0..<10 { short.append(Array("l\(i)\n".utf8)) }
        XCTAssertEqual(short.lines, ["l7", "l8", "l9"])
        XCTAssertEqual(short.droppedLineCount, 7)
    }
}
