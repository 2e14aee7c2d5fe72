// `culvert-bench queue`: root's Ping p50/p99 alone, and while work proportional to input size runs
// in a loop on another connection — (a) 11 MiB SendProviderMessage calls to a live test provider,
// (b) installs of a bundle with a 50 MiB file (two versions, alternately). Issue 12's goal: p99
// during either ≤ 2× idle. Everything runs on this machine, in private network namespaces.
//
// Idle and loaded Pings are taken in alternating windows (`--windows`): a loaded window lasts
// exactly `--rounds-per-window` whole rounds of the load, then an idle window takes as many Pings
// with nothing in flight. On a shared machine whose background load drifts over seconds, two
// separate measurements compare the drift, not culvertd; interleaved ones see the same drift.

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

    @Option(help: "Provider message size in MiB (of base64 text).")
    var messageMebibytes = 11

    @Option(help: "Size of the large file in the installed bundle, in MiB.")
    var bundleMebibytes = 50

    @Option(help: "Loaded and idle windows per load, alternated.")
    var windows = 10

    @Option(help: "Whole rounds of the load in each loaded window.")
    var roundsPerWindow = 2

    func run() throws {
        // Installed before the lab exists, as in `tunnel`: an interrupted run leaves no namespace or daemon behind.
        let box = LabBox()
        try SignalTeardown.install { box.settled()?.tearDown() }
        let lab: TunnelLab
        do { lab = try TunnelLab(daemonArguments: []) } catch {
            box.settle(nil)
            throw error
        }
        box.settle(lab)
        defer { lab.tearDown() }
        try lab.saveProfile("bench")
        _ = try lab.connect("bench")
        let ping = try lab.daemon.connect()
        /// Pings until `count` were taken, or (count nil) until `until` says so.
        func measure(_ count: Int?, until: () -> Bool) throws -> [UInt64] {
            var samples: [UInt64] = []
            while count.map({ samples.count < $0 }) ?? !until() {
                let start = WallClock.monotonicNanoseconds()
                _ = try ping.call(ManagerMethod.ping.rawValue, timeoutMilliseconds: 30_000)
                samples.append(WallClock.monotonicNanoseconds() - start)
                usleep(500)  // a steady probe, not a flood of its own
            }
            return samples
        }
        for _ in 0..<200 { _ = try ping.call(ManagerMethod.ping.rawValue) }

        // (a) 11 MiB messages: base64 text of the size asked for, echoed back by the provider.
        let raw = [UInt8](repeating: 0x61, count: messageMebibytes << 20 * 3 / 4)
        let text = Data(raw).base64EncodedString()
        let socket = lab.daemon.socketPath
        let messages = try interleaved(socket: socket) { connection in
            _ = try connection.call(
                ManagerMethod.sendProviderMessage.rawValue, ["profile": "bench", "data": .string(text)], timeoutMilliseconds: 60_000)
        } measure: { count, until in
            try measure(count, until: until)
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
        let installs = try interleaved(socket: socket) { connection in
            next += 1
            _ = try connection.call(
                ManagerMethod.installExtension.rawValue, ["path": .string(bundles[next % 2]), "allowDowngrade": true],
                timeoutMilliseconds: 120_000)
        } measure: { count, until in
            try measure(count, until: until)
        }

        func row(_ name: String, _ sample: Percentiles, ratio: String, done: String) -> String {
            "| \(name) | \(sample.count) | \(format(sample.p50)) | \(format(sample.p99)) | \(format(sample.max)) | \(ratio) | \(done) |"
        }
        func verdict(_ run: Interleaved) -> String { run.loaded.p99 <= 2 * run.idle.p99 ? "met" : "missed" }
        print(
            """
            ## Manager queue under large inputs (`culvert-bench queue --windows \(windows) --rounds-per-window \(roundsPerWindow)`)

            | root Ping | n | p50 µs | p99 µs | max µs | p99 ratio to idle | work done meanwhile |
            |---|---|---|---|---|---|---|
            \(row("idle, between the message windows", messages.idle, ratio: "1.0", done: ""))
            \(row("during \(messageMebibytes) MiB SendProviderMessage in a loop", messages.loaded, ratio: format(messages.ratio), done: "\(messages.rounds) messages"))
            \(row("idle, between the install windows", installs.idle, ratio: "1.0", done: ""))
            \(row("during installs of a bundle with a \(bundleMebibytes) MiB file in a loop", installs.loaded, ratio: format(installs.ratio), done: "\(installs.rounds) installs"))

            Goal: p99 during each ≤ 2× idle → messages **\(verdict(messages))**, installs **\(verdict(installs))**.
            """)
    }

    /// Idle and loaded Pings of one load, and how many rounds of the load completed.
    struct Interleaved {
        let idle: Percentiles
        let loaded: Percentiles
        let rounds: Int
        var ratio: Double { loaded.p99 / idle.p99 }
    }

    /// Runs `work` on its own connection and thread in `windows` loaded windows of
    /// `roundsPerWindow` whole rounds each, every one followed by an idle window of as many Pings
    /// with no round in flight. `measure(count, until)` Pings `count` times, or while `until` is false.
    /// A failing round stops the bench.
    private func interleaved(
        socket: String, _ work: @escaping (VarlinkClientConnection) throws -> Void,
        measure: (Int?, () -> Bool) throws -> [UInt64]
    ) throws -> Interleaved {
        let state = LoadState()
        let connection = try VarlinkClientConnection(path: socket)
        let box = WorkBox(work: work, connection: connection)
        let thread = Thread {
            while !state.stopped {
                guard state.beginRound() else {
                    usleep(1_000)
                    continue
                }
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
        defer {
            state.stop()
            while !state.finished { usleep(10_000) }
        }
        let perWindow = max(1, roundsPerWindow)
        var idle: [UInt64] = []
        var loaded: [UInt64] = []
        for _ in 0..<max(1, windows) {
            let begun = state.started
            let target = state.rounds + perWindow
            state.allow(perWindow)
            while state.started == begun, state.failure == nil { usleep(100) }  // the window starts with its first round
            let window = try measure(nil) { state.rounds >= target || state.failure != nil }
            if let failure = state.failure { throw ValidationError("load failed: \(failure)") }
            loaded += window
            idle += try measure(window.count) { true }
        }
        return Interleaved(idle: Percentiles(nanoseconds: idle), loaded: Percentiles(nanoseconds: loaded), rounds: state.rounds)
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
    /// Rounds the load thread may still begin.
    private var _allowed = 0
    private var _started = 0
    private var _rounds = 0
    private var _failure: String?
    private var _finished = false

    var stopped: Bool { lock.withLock { _stopped } }
    var rounds: Int { lock.withLock { _rounds } }
    var started: Int { lock.withLock { _started } }
    var failure: String? { lock.withLock { _failure } }
    /// The load thread has left its loop (it may be mid-round when stopped).
    var finished: Bool { lock.withLock { _finished || _failure != nil } }

    /// Whether the load thread may begin a round now; counts it if so.
    func beginRound() -> Bool {
        lock.withLock {
            guard _allowed > 0 else { return false }
            _allowed -= 1
            _started += 1
            return true
        }
    }
    func completed() { lock.withLock { _rounds += 1 } }
    /// Lets the load thread begin `count` more rounds.
    func allow(_ count: Int) { lock.withLock { _allowed += count } }
    func finish() { lock.withLock { _finished = true } }
    func fail(_ text: String) { lock.withLock { _failure = text } }
    func stop() { lock.withLock { _stopped = true } }
}
