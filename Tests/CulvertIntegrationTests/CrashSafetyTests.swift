// Contract 12: every acknowledged change is durable before the reply; a crash at any instant
// leaves the old or the new state, never a torn or empty one.

import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

/// Acknowledged saves, shared between the writer thread and the test.
private final class Acknowledged: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var latest: [String: String] = [:]
    /// Saves begun since the last acknowledged one, per name: any of them may have landed
    /// (durable before a reply the kill cut off), so any may be what is stored.
    private var pending: [String: Set<String>] = [:]
    private var acknowledgedCount = 0
    var total: Int {
        lock.lock()
        defer { lock.unlock() }
        return acknowledgedCount
    }
    func begin(_ name: String, _ version: String) {
        lock.lock()
        pending[name, default: []].insert(version)
        lock.unlock()
    }
    func acknowledge(_ name: String, _ version: String) {
        lock.lock()
        latest[name] = version
        pending[name] = nil
        acknowledgedCount += 1
        lock.unlock()
    }
    var snapshot: (latest: [String: String], pending: [String: Set<String>]) {
        lock.lock()
        defer { lock.unlock() }
        return (latest, pending)
    }
}

final class CrashSafetyTests: XCTestCase {
    static let trials = 50
    /// Longest a writer runs before the kill; the kill lands at a random instant within it.
    static let maximumKillDelayMicroseconds: UInt32 = 500_000

    func testKillDuringSaveLoopKeepsEveryAcknowledgedProfile() throws {
        let directory = try TemporaryDirectory(prefix: "culvert-crash")
        let daemon = DaemonProcess(root: directory.path)
        addTeardownBlock {
            daemon.crash()
            directory.remove()
        }
        let acknowledged = Acknowledged()
        var totalAcknowledged = 0
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<Self.trials {
            try daemon.start()
            // Everything acknowledged so far survived the previous kill.
            try verify(daemon: daemon, acknowledged: acknowledged, trial: trial)

            let socket = daemon.socketPath
            let stop = DispatchSemaphore(value: 0)
            let writer = Thread {
                defer { stop.signal() }
                guard let connection = try? VarlinkClientConnection(path: socket) else { return }  // daemon killed already
                for i in 0..<100_000 {
                    let name = "t\(i % 17)"
                    let version = "\(trial)-\(i)"
                    acknowledged.begin(name, version)
                    let options: JSONValue = ["version": .string(version), "padding": .string(String(repeating: "p", count: i % 3000))]
                    do {
                        _ = try connection.call(
                            "io.culvert.Manager.SaveProfile",
                            [
                                "profile": [
                                    "name": .string(name), "extension": "io.culvert.test", "options": options,
                                    "secrets": ["k": .string(version)],
                                ]
                            ],
                            timeoutMilliseconds: 10_000)
                        acknowledged.acknowledge(name, version)
                    } catch {
                        return  // the kill: this save is unacknowledged
                    }
                }
            }
            writer.start()
            usleep(UInt32.random(in: 1_000...Self.maximumKillDelayMicroseconds, using: &generator))
            daemon.crash()
            XCTAssertEqual(stop.wait(timeout: .now() + 30), .success)
            totalAcknowledged = acknowledged.total
        }
        try daemon.start()
        try verify(daemon: daemon, acknowledged: acknowledged, trial: Self.trials)
        print("crash safety: \(Self.trials) kills, \(totalAcknowledged) acknowledged saves, every acknowledged profile intact")
        XCTAssertGreaterThan(totalAcknowledged, Self.trials, "too few saves landed to test anything")
    }

    private func verify(daemon: DaemonProcess, acknowledged: Acknowledged, trial: Int) throws {
        let (latest, pending) = acknowledged.snapshot
        let status = try daemon.connect().call("io.culvert.Manager.GetStatus")
        XCTAssertEqual(status["status"]?["problems"], [], "trial \(trial): the daemon found damaged files")
        var stored: [String: String] = [:]
        for profile in status["status"]?["profiles"]?.arrayValue ?? [] {
            if let name = profile["name"]?.stringValue { stored[name] = profile["options"]?["version"]?.stringValue }
        }
        for (name, version) in latest {
            // Saves cut off by a kill may or may not have landed; nothing else may differ.
            let allowed = [version] + (pending[name] ?? []).sorted()
            XCTAssertTrue(
                allowed.contains(stored[name] ?? "<missing>"),
                "trial \(trial): \(name) is \(stored[name] ?? "<missing>"), expected one of \(allowed)")
        }
        for (name, version) in stored {
            XCTAssertTrue(
                latest[name] == version || pending[name]?.contains(version) == true,
                "trial \(trial): \(name) holds \(version), which was never saved")
        }
        // No temp file survives a restart, and every file on disk parses.
        let files = try FileSystem.listDirectory(daemon.stateDirectory + "/profiles")
        XCTAssertFalse(
            files.contains { FileSystem.isTemporaryName($0) || $0.contains(".tmp-") }, "trial \(trial): leftover temp files \(files)")
    }
}
