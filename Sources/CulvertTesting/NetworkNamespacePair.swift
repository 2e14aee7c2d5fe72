// NetworkNamespacePair: two private network namespaces joined by a veth pair, for tests and
// benchmarks that send packets. Addresses exist only inside them (10.200.0.0/24 on the veth), the
// names are unique per instance, and both are deleted on `tearDown()` or deinit — even when a
// test fails — which also removes every device and route inside them.

import Foundation

public final class NetworkNamespacePair: @unchecked Sendable {  // immutable after init; tearDown is idempotent
    public static let ipCommand = "/usr/sbin/ip"
    /// The veth addresses: `a` side and `b` side, on 10.200.0.0/24.
    public static let addressA = "10.200.0.1"
    public static let addressB = "10.200.0.2"
    public static let prefixLength = 24

    public let a: String
    public let b: String
    private var removed = false

    /// Creates `culvert-<pid>-<random>-a` and `-b` with loopback up and the veth configured.
    public init() throws {
        let tag = "culvert-\(getpid())-\(UInt32.random(in: 0..<UInt32.max) % 1_000_000)"
        a = tag + "-a"
        b = tag + "-b"
        do {
            try Self.ip(["netns", "add", a])
            try Self.ip(["netns", "add", b])
            // No duplicate address detection: the veth's link-local address would otherwise change
            // from "tentative" to settled in the middle of a before/after comparison.
            for namespace in [a, b] {
                let sysctl = try Self.run(
                    Self.ipCommand,
                    ["netns", "exec", namespace, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"])
                guard sysctl.status == 0 else {
                    throw CommandError.failed(command: "sysctl accept_dad", status: sysctl.status, error: sysctl.error)
                }
            }
            try Self.ip(["-n", a, "link", "set", "lo", "up"])
            try Self.ip(["-n", b, "link", "set", "lo", "up"])
            try Self.ip(["-n", a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", b])
            try Self.ip(["-n", a, "addr", "add", "\(Self.addressA)/\(Self.prefixLength)", "dev", "veth-a"])
            try Self.ip(["-n", b, "addr", "add", "\(Self.addressB)/\(Self.prefixLength)", "dev", "veth-b"])
            try Self.ip(["-n", a, "link", "set", "veth-a", "up"])
            try Self.ip(["-n", b, "link", "set", "veth-b", "up"])
        } catch {
            tearDown()
            throw error
        }
    }

    deinit { tearDown() }

    /// Kills every process still inside either namespace (all started by whoever created them,
    /// e.g. an iperf3 of an interrupted run), then deletes both (and so every device in them).
    public func tearDown() {
        guard !removed else { return }
        removed = true
        for namespace in [a, b] {
            // try?: a namespace that is already gone has no processes.
            let pids = (try? Self.run(Self.ipCommand, ["netns", "pids", namespace]))?.output.split(separator: "\n") ?? []
            for pid in pids.compactMap({ Int32($0) }) where pid != getpid() { kill(pid, SIGKILL) }
        }
        _ = try? Self.run(Self.ipCommand, ["netns", "del", a])  // try?: may not exist if init failed early
        _ = try? Self.run(Self.ipCommand, ["netns", "del", b])  // same
    }

    /// Runs `ip args` in namespace `namespace` and returns its output; throws on non-zero status.
    @discardableResult
    public func ip(in namespace: String, _ arguments: [String]) throws -> String {
        try Self.ip(["-n", namespace] + arguments)
    }

    /// `ip -j <object> show` in `namespace`, normalised for comparison: volatile fields
    /// (lifetimes, statistics) dropped, keys sorted.
    public func snapshot(in namespace: String, _ object: String) throws -> String {
        let text = try ip(in: namespace, ["-j", object, "show"])
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
        let stable = Self.dropVolatile(value)
        let data = try JSONSerialization.data(withJSONObject: stable, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// The whole observable network state of `namespace`: links, addresses, routes (v4, v6, all
    /// tables) and rules (v4, v6).
    public func networkState(in namespace: String) throws -> [String: String] {
        [
            "link": try snapshot(in: namespace, "link"),
            "addr": try snapshot(in: namespace, "addr"),
            "route4": try normalisedJSON(try ip(in: namespace, ["-j", "-4", "route", "show", "table", "all"])),
            "route6": try normalisedJSON(try ip(in: namespace, ["-j", "-6", "route", "show", "table", "all"])),
            "rule4": try normalisedJSON(try ip(in: namespace, ["-j", "-4", "rule", "show"])),
            "rule6": try normalisedJSON(try ip(in: namespace, ["-j", "-6", "rule", "show"])),
        ]
    }

    /// Runs a command inside `namespace` (`ip netns exec`), waiting at most `timeout` seconds.
    @discardableResult
    public func exec(in namespace: String, _ command: [String], timeout: TimeInterval = 60) throws -> CommandResult {
        try Self.run(Self.ipCommand, ["netns", "exec", namespace] + command, timeout: timeout)
    }

    /// Starts a long-running command inside `namespace`; the caller terminates it.
    public func spawn(in namespace: String, _ command: [String], output: String) throws -> Process {
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.ipCommand)
        process.arguments = ["netns", "exec", namespace] + command
        process.standardOutput = FileHandle(forWritingAtPath: output)
        process.standardError = FileHandle(forWritingAtPath: output)
        try process.run()
        return process
    }

    private func normalisedJSON(_ text: String) throws -> String {
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
        let data = try JSONSerialization.data(withJSONObject: Self.dropVolatile(value), options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// Fields that change on their own (lifetimes count down, statistics grow).
    static let volatileKeys: Set<String> = ["valid_life_time", "preferred_life_time", "stats64", "stats", "expires"]

    static func dropVolatile(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            return object.filter { !volatileKeys.contains($0.key) }.mapValues(dropVolatile)
        }
        if let array = value as? [Any] { return array.map(dropVolatile) }
        return value
    }

    public struct CommandResult: Sendable {
        public var status: Int32
        public var output: String
        public var error: String
    }

    public enum CommandError: Error, CustomStringConvertible {
        case failed(command: String, status: Int32, error: String)
        case timedOut(command: String)
        public var description: String {
            switch self {
            case .failed(let command, let status, let error): return "\(command) exited \(status): \(error)"
            case .timedOut(let command): return "\(command) did not finish in time"
            }
        }
    }

    @discardableResult
    static func ip(_ arguments: [String]) throws -> String {
        let result = try run(ipCommand, arguments)
        guard result.status == 0 else {
            throw CommandError.failed(command: "ip " + arguments.joined(separator: " "), status: result.status, error: result.error)
        }
        return result.output
    }

    /// Runs `path arguments`, collecting stdout and stderr through files (no pipe deadlocks),
    /// killing it after `timeout` seconds.
    public static func run(_ path: String, _ arguments: [String], timeout: TimeInterval = 60) throws -> CommandResult {
        let directory = NSTemporaryDirectory() + "culvert-cmd-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }  // try?: temp files, best effort
        let out = directory + "/out"
        let err = directory + "/err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning {
            process.terminate()
            usleep(100_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            throw CommandError.timedOut(command: ([path] + arguments).joined(separator: " "))
        }
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus, output: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",  // try?: empty output
            error: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")  // same
    }
}
