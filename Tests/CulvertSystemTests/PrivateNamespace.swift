// PrivateNamespace: a test thread's own network namespace and `ip` commands run inside it, for the
// real-kernel tests of this target (the host's namespace is never touched).

import CulvertSystem
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// How long a namespaced test body may run before the test gives up on it.
private let namespaceBodyTimeoutSeconds = 120.0
/// How long one `ip` command may run.
private let ipCommandTimeoutSeconds = 10.0

/// The error a namespaced body threw, handed from its thread to the test's.
private final class ThreadOutcome: @unchecked Sendable {  // written by the worker before `done` is signalled, read after
    var failure: String?
    let done = DispatchSemaphore(value: 0)
}

/// An `ip` command that could not be run or failed.
private struct IPCommandError: Error, CustomStringConvertible {
    var arguments: [String]
    var problem: String
    var description: String { "ip \(arguments.joined(separator: " ")): \(problem)" }
}

/// A thread's private network namespace, and `ip` commands run inside it.
struct PrivateNamespace {
    /// The namespace file of the owning thread, for `nsenter --net=`.
    let path: String

    /// `ip -j ARGS` run inside the namespace, parsed as a JSON array of objects.
    func objects(_ arguments: String...) throws -> [[String: Any]] {
        try ipArray(arguments)
    }

    private func ipArray(_ arguments: [String]) throws -> [[String: Any]] {
        let json = try JSONSerialization.jsonObject(with: Data(try runIP(["-j"] + arguments).utf8))
        return json as? [[String: Any]] ?? []
    }

    /// Runs a command line "ip ARGS…" (words separated by single spaces) inside the namespace.
    func run(_ commandLine: String) throws {
        let words = commandLine.split(separator: " ").map(String.init)
        guard words.first == "ip" else { throw IPCommandError(arguments: words, problem: "not an ip command") }
        _ = try runIP(Array(words.dropFirst()))
    }

    /// Runs `nsenter --net=PATH ip ARGS` and returns its standard output. Spawned with
    /// posix_spawn, not Foundation's Process: Process's termination watcher needs a loopback socket,
    /// and this namespace's loopback is down.
    private func runIP(_ arguments: [String]) throws -> String {
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else { throw IPCommandError(arguments: arguments, problem: "pipe: errno \(errno)") }
        defer { close(pipeEnds[0]) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
        let argv = (["nsenter", "--net=\(path)", "ip"] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, "/usr/bin/nsenter", &actions, nil, argv, environ)
        close(pipeEnds[1])
        guard rc == 0 else { throw IPCommandError(arguments: arguments, problem: "posix_spawn: \(rc)") }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let deadline = Date().addingTimeInterval(ipCommandTimeoutSeconds)
        while Date() < deadline {  // bounded by the deadline; ends at EOF when ip exits
            var poller = pollfd(fd: pipeEnds[0], events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) >= 0 || errno == EINTR else { break }
            guard poller.revents != 0 else { continue }
            let n = read(pipeEnds[0], &chunk, chunk.count)
            if n <= 0 { break }
            output += chunk[0..<n]
        }
        var status: Int32 = 0
        var waited = waitpid(child, &status, WNOHANG)
        while waited == 0 && Date() < deadline {  // bounded by the deadline: ip exits right after EOF
            usleep(5_000)
            waited = waitpid(child, &status, WNOHANG)
        }
        if waited == 0 {
            kill(child, SIGKILL)  // our own child, still running past the deadline
            _ = waitpid(child, &status, 0)  // reap it; it was just killed
            throw IPCommandError(arguments: arguments, problem: "timed out")
        }
        // Exit status 0: WIFEXITED with WEXITSTATUS 0 is status == 0 exactly.
        guard waited == child, status == 0 else { throw IPCommandError(arguments: arguments, problem: "exit status \(status)") }
        return String(decoding: output, as: UTF8.self)
    }

    /// Everything a transaction may change, as `ip -j` prints it, for before/after equality.
    /// The link's `qdisc` is left out: the kernel attaches pfifo_fast the first time a link goes up
    /// and keeps it after it goes down; that is the kernel's, not a setting Culvert applies or reverts.
    func snapshot() throws -> [String] {
        var addresses = try ipArray(["addr"])
        for index in addresses.indices { addresses[index]["qdisc"] = nil }
        let addressText = String(decoding: try JSONSerialization.data(withJSONObject: addresses, options: [.sortedKeys]), as: UTF8.self)
        return [
            addressText,
            try runIP(["-j", "-4", "route", "show", "table", "all"]),
            try runIP(["-j", "-6", "route", "show", "table", "all"]),
            try runIP(["-j", "-4", "rule"]),
            try runIP(["-j", "-6", "rule"]),
        ]
    }
}

/// Runs `body` on a new thread that first moves into a new network namespace of its own. The
/// namespace disappears when the thread ends and the body's descriptors are closed.
func withPrivateNetworkNamespace(
    file: StaticString = #filePath, line: UInt = #line, _ body: @escaping @Sendable (PrivateNamespace) throws -> Void
) {
    let outcome = ThreadOutcome()
    let thread = Thread {
        defer { outcome.done.signal() }
        // unshare(CLONE_NEWNET) affects the calling thread only; this thread is never reused.
        do { try NetworkNamespace.enterNewNamespaceOnCurrentThread() } catch {
            outcome.failure = "\(error)"
            return
        }
        let namespace = PrivateNamespace(path: NetworkNamespace.currentThreadNamespacePath)
        // Refuse to run anything unless this thread's namespace really differs from the process's.
        let own = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self/ns/net")) ?? "?"  // "?" never matches
        let host = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(getpid())/ns/net")) ?? own  // equal: refuse
        guard own != host, own != "?" else {
            outcome.failure = "still in the host's network namespace (\(own))"
            return
        }
        do { try body(namespace) } catch { outcome.failure = "\(error)" }
    }
    thread.start()
    guard outcome.done.wait(timeout: .now() + namespaceBodyTimeoutSeconds) == .success else {
        XCTFail("namespaced test body did not finish", file: file, line: line)
        return
    }
    if let failure = outcome.failure { XCTFail(failure, file: file, line: line) }
}
