// Contract 12 for extensions: kill -9 at random moments during a loop of installs and
// replacements; after each restart the registry lists exactly the acknowledged installs (the one
// in flight may or may not have landed) and every installed copy verifies.

import CulvertBundle
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

/// What the installer thread had acknowledged, shared with the test.
private final class InstallLedger: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var acknowledged: [String: Int] = [:]
    private var lastBegun: [String: Int] = [:]
    private var nextBuild: [String: Int] = [:]
    private var count = 0

    func begin(_ identifier: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        let build = (nextBuild[identifier] ?? 0) + 1
        nextBuild[identifier] = build
        lastBegun[identifier] = build
        return build
    }

    func acknowledge(_ identifier: String, _ build: Int) {
        lock.lock()
        acknowledged[identifier] = build
        count += 1
        lock.unlock()
    }

    var state: (acknowledged: [String: Int], lastBegun: [String: Int], count: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (acknowledged, lastBegun, count)
    }
}

final class ExtensionCrashSafetyTests: XCTestCase {
    static let trials = 50
    static let identifiers = ["io.culvert.alpha", "io.culvert.beta", "io.culvert.gamma"]
    static let maximumKillDelayMicroseconds: UInt32 = 400_000

    func testKillDuringInstallLoopKeepsExactlyTheAcknowledgedInstalls() throws {
        let directory = try TemporaryDirectory(prefix: "culvert-ext-crash")
        let sources = try TemporaryDirectory(prefix: "culvert-ext-src")
        let key = SigningKey.generate()
        try BundleFixture.trust(key, configDirectory: directory.path + "/etc")
        let daemon = DaemonProcess(root: directory.path)
        addTeardownBlock {
            daemon.crash()
            directory.remove()
            sources.remove()
        }
        let ledger = InstallLedger()
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<Self.trials {
            try daemon.start()
            try verify(daemon, ledger: ledger, trust: TrustedPublishers([key.publisherKey]), trial: trial)
            let socket = daemon.socketPath
            let sourceRoot = sources.path
            let done = DispatchSemaphore(value: 0)
            Thread {
                defer { done.signal() }
                guard let connection = try? VarlinkClientConnection(path: socket) else { return }  // killed before connecting
                for step in 0..<10_000 {
                    let identifier = Self.identifiers[step % Self.identifiers.count]
                    let build = ledger.begin(identifier)
                    guard
                        let bundle = try? BundleFixture.make(  // cannot fail on a healthy disk; the ledger shows it if it does
                            in: "\(sourceRoot)/\(identifier)-\(build)", identifier: identifier, version: "1.0.\(build)", build: build,
                            key: key)
                    else { return }
                    do {
                        _ = try connection.call(
                            "io.culvert.Manager.InstallExtension", ["path": .string(bundle)], timeoutMilliseconds: 10_000)
                        ledger.acknowledge(identifier, build)
                    } catch {
                        return  // the kill: unacknowledged
                    }
                }
            }.start()
            usleep(UInt32.random(in: 5_000...Self.maximumKillDelayMicroseconds, using: &generator))
            daemon.crash()
            XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        }
        try daemon.start()
        try verify(daemon, ledger: ledger, trust: TrustedPublishers([key.publisherKey]), trial: Self.trials)
        let count = ledger.state.count
        print("extension crash safety: \(Self.trials) kills, \(count) acknowledged installs, registry exact, every copy verified")
        XCTAssertGreaterThan(count, Self.trials, "too few installs landed to test anything")
    }

    private func verify(_ daemon: DaemonProcess, ledger: InstallLedger, trust: TrustedPublishers, trial: Int) throws {
        let (acknowledged, lastBegun, _) = ledger.state
        let list = try daemon.connect().call("io.culvert.Manager.ListExtensions")["extensions"]?.arrayValue ?? []
        var installed: [String: Int] = [:]
        for entry in list {
            guard let identifier = entry["identifier"]?.stringValue, let build = entry["build"]?.intValue else { continue }
            installed[identifier] = Int(build)
            let storePath = try XCTUnwrap(entry["storePath"]?.stringValue)
            XCTAssertNoThrow(
                try BundleVerifier.verify(directory: storePath, trust: trust, allowUnsigned: false), "trial \(trial): \(storePath)")
        }
        for identifier in Self.identifiers {
            // Installs are serial and builds only grow: the registry may hold the acknowledged
            // build or any later one that was in flight when a kill landed (durable before the
            // reply that never arrived). Nothing older, nothing never begun.
            let begun = lastBegun[identifier] ?? 0
            guard let build = installed[identifier] else {
                XCTAssertNil(acknowledged[identifier], "trial \(trial): \(identifier) acknowledged but missing")
                continue
            }
            let lowest = acknowledged[identifier] ?? 1
            XCTAssertTrue(
                (lowest...max(lowest, begun)).contains(build),
                "trial \(trial): \(identifier) is build \(build), expected \(lowest)...\(begun)")
        }
        XCTAssertEqual(
            try FileSystem.listDirectory(daemon.stateDirectory + "/extensions/staging"), [], "trial \(trial): staging not cleared")
    }
}
