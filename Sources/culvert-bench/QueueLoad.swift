// `culvert-bench queue`: root's Ping p50/p99 alone, and while work proportional to input size runs
// in a loop on another connection — (a) 11 MiB SendProviderMessage calls to a live test provider,
// (b) installs of a bundle with a 50 MiB file (two versions, alternately). Issue 12's goal: p99
// during either ≤ 2× idle. Everything runs on this machine, in private network namespaces.

import ArgumentParser
import CulvertBundle
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import CulvertWire
import Foundation

struct QueueLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "Ping p50/p99 idle vs during 11 MiB provider messages and 50 MiB bundle installs.")

    @Option(help: "Ping round trips per measurement.")
    var pings = 3_000

    @Option(help: "Provider message size in MiB (of base64 text).")
    var messageMebibytes = 11

    @Option(help: "Size of the large file in the installed bundle, in MiB.")
    var bundleMebibytes = 50

    func run() throws {
        let lab = try TunnelLab(daemonArguments: [])
        defer { lab.tearDown() }
        try lab.saveProfile("bench")
        _ = try lab.connect("bench")
        let ping = try lab.daemon.connect()
        func measure() throws -> Percentiles {
            var samples: [UInt64] = []
            samples.reserveCapacity(pings)
            for _ in 0..<pings {
                let start = WallClock.monotonicNanoseconds()
                _ = try ping.call(ManagerMethod.ping.rawValue, timeoutMilliseconds: 30_000)
                samples.append(WallClock.monotonicNanoseconds() - start)
                usleep(500)  // a steady probe, not a flood of its own
            }
            return Percentiles(nanoseconds: samples)
        }
        for _ in 0..<200 { _ = try ping.call(ManagerMethod.ping.rawValue) }
        let idle = try measure()

        // (a) 11 MiB messages: base64 text of the size asked for, echoed back by the provider.
        let raw = [UInt8](repeating: 0x61, count: messageMebibytes << 20 * 3 / 4)
        let text = Data(raw).base64EncodedString()
        let socket = lab.daemon.socketPath
        let messages = try during(socket: socket) { connection in
            _ = try connection.call(
                ManagerMethod.sendProviderMessage.rawValue, ["profile": "bench", "data": .string(text)], timeoutMilliseconds: 60_000)
        } measure: {
            try measure()
        }

        // (b) installs of a large bundle: two versions of another identifier, so each install copies and hashes it all.
        let payload = String(repeating: "x", count: bundleMebibytes << 20)
        let bundles = try ["1.0.0", "2.0.0"].map { version in
            let directory = lab.directory.path + "/bench-\(version)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            return try BundleFixture.make(
                in: directory, identifier: "io.culvert.bench", version: version, key: lab.signingKey, extraFiles: ["large.bin": payload])
        }
        var next = 0
        let installs = try during(socket: socket) { connection in
            next += 1
            _ = try connection.call(
                ManagerMethod.installExtension.rawValue, ["path": .string(bundles[next % 2]), "allowDowngrade": true],
                timeoutMilliseconds: 120_000)
        } measure: {
            try measure()
        }

        print(
            """
            ## Manager queue under large inputs (`culvert-bench queue --pings \(pings)`)

            | root Ping | n | p50 µs | p99 µs | max µs | p99 ratio to idle | work done meanwhile |
            |---|---|---|---|---|---|---|
            | idle | \(idle.count) | \(format(idle.p50)) | \(format(idle.p99)) | \(format(idle.max)) | 1.0 | |
            | during \(messageMebibytes) MiB SendProviderMessage in a loop | \(messages.0.count) | \(format(messages.0.p50)) | \(format(messages.0.p99)) | \(format(messages.0.max)) | \(format(messages.0.p99 / idle.p99)) | \(messages.1) messages |
            | during installs of a bundle with a \(bundleMebibytes) MiB file in a loop | \(installs.0.count) | \(format(installs.0.p50)) | \(format(installs.0.p99)) | \(format(installs.0.max)) | \(format(installs.0.p99 / idle.p99)) | \(installs.1) installs |

            Goal: p99 during each ≤ 2× idle → messages **\(messages.0.p99 <= 2 * idle.p99 ? "met" : "missed")**, \
            installs **\(installs.0.p99 <= 2 * idle.p99 ? "met" : "missed")**.
            """)
    }

    /// Runs `work` in a loop on its own connection and thread while `measure` runs; returns the
    /// measurement and how many rounds of work completed. A failing round stops the bench.
    private func during(
        socket: String, _ work: @escaping (VarlinkClientConnection) throws -> Void, measure: () throws -> Percentiles
    ) throws -> (Percentiles, Int) {
        let state = LoadState()
        let connection = try VarlinkClientConnection(path: socket)
        let box = WorkBox(work: work, connection: connection)
        let thread = Thread {
            while !state.stopped {
                do {
                    try box.work(box.connection)
                    state.completed()
                } catch {
                    state.fail("\(error)")
                    return
                }
            }
            state.finish()
        }
        thread.start()
        while state.rounds == 0, state.failure == nil { usleep(10_000) }  // measure only once the load is running
        let result = try measure()
        state.stop()
        while !state.finished { usleep(10_000) }
        if let failure = state.failure { throw ValidationError("load failed: \(failure)") }
        return (result, state.rounds)
    }
}

/// The load thread's closure and connection, handed over once to that thread.
private struct WorkBox: @unchecked Sendable {  // used by the load thread only, after the hand-over
    let work: (VarlinkClientConnection) throws -> Void
    let connection: VarlinkClientConnection
}

/// Shared between the load thread and the measuring one.
private final class LoadState: @unchecked Sendable {  // every field under `lock`
    private let lock = NSLock()
    private var _stopped = false
    private var _rounds = 0
    private var _failure: String?
    private var _finished = false

    var stopped: Bool { lock.withLock { _stopped } }
    var rounds: Int { lock.withLock { _rounds } }
    var failure: String? { lock.withLock { _failure } }
    /// The load thread has left its loop (it may be mid-round when stopped).
    var finished: Bool { lock.withLock { _finished || _failure != nil } }

    func completed() { lock.withLock { _rounds += 1 } }
    func finish() { lock.withLock { _finished = true } }
    func fail(_ text: String) { lock.withLock { _failure = text } }
    func stop() { lock.withLock { _stopped = true } }
}
