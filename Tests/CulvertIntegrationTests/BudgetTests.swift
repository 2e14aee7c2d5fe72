// Budgets by identity (contract 15): floods from unprivileged uids — connections up to the per-uid
// cap, huge and trickling partial messages, idle connections, the global cap filled by several
// uids — while root's Ping stays answered, root and a reader can still connect, and culvertd's RSS
// stays under a named bound. Every flood is bounded in connections and in time.

import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class BudgetTests: XCTestCase {
    /// culvertd's resident set may not exceed this during the worst flood.
    static let residentBoundKilobytes = 64 * 1024
    /// Root's Ping must be answered within this, whatever the flood (a liveness bound, not a speed test).
    static let pingBound: Duration = .seconds(2)
    /// Unnamed uids the floods run as.
    static let strangers: [UInt32] = [64_101, 64_102, 64_103, 64_104]
    static let nobody: [String] = ["--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    static let member: [String] = ["--reuid=\(PermissionTests.memberUser)", "--regid=nogroup", "--init-groups"]

    override func setUpWithError() throws {
        XCTAssertEqual(Identity.effectiveUserID, 0, "BudgetTests need root to act as other users")
        try ensureReaderGroupMember()
    }

    func startBudgetDaemon(_ arguments: [String]) throws -> DaemonProcess {
        let directory = try TemporaryDirectory(prefix: "culvert-budget")
        try FileSystem.setMode(directory.path, 0o755)  // other users must reach the socket
        let daemon = DaemonProcess(root: directory.path, arguments: ["--group", PermissionTests.readerGroup] + arguments)
        addTeardownBlock {
            daemon.crash()
            directory.remove()
        }
        try daemon.start()
        return daemon
    }

    /// Root pings on fresh connections `count` times; each must be answered within `pingBound`.
    func assertRootServed(_ daemon: DaemonProcess, count: Int = 10, _ context: String) throws {
        let clock = ContinuousClock()
        for _ in 0..<count {
            let started = clock.now
            let connection = try daemon.connect()
            let reply = try connection.call("io.culvert.Manager.Ping", timeoutMilliseconds: 5000)
            connection.close()
            XCTAssertNotNil(reply["version"], context)
            XCTAssertLessThan(clock.now - started, Self.pingBound, "root's Ping during \(context)")
        }
    }

    func flood(_ daemon: DaemonProcess, _ identity: [String], _ kind: FloodKind, _ count: Int, hold: Double, size: Int = 0) throws -> Flood
    {
        let flood = Flood(
            FloodPlan(identity: identity, socketPath: daemon.socketPath, kind: kind, connections: count, hold: hold, size: size))
        addTeardownBlock { flood.stop() }
        do { try flood.start() } catch { throw NSError(domain: "flood", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(error)"]) }
        return flood
    }

    func report(_ flood: Flood) throws -> FloodReport {
        do { return try flood.finish() } catch {
            throw NSError(domain: "flood", code: 2, userInfo: [NSLocalizedDescriptionKey: "\(error)"])
        }
    }

    func testPerUserCapAndHugePartialMessagesAreRefusedAtOnce() throws {
        let daemon = try startBudgetDaemon(["--max-connections-per-user", "20"])
        let many = try flood(daemon, Self.nobody, .idle, 30, hold: 2)
        try assertRootServed(daemon, "30 connections from nobody")
        let capped = try report(many)
        XCTAssertEqual(capped.outcomes["io.culvert.Varlink.TooManyConnections"], 10, "\(capped.outcomes)")
        XCTAssertEqual(capped.outcomes["open"], 20, "\(capped.outcomes)")

        // Over the 64 KiB an unprivileged peer may send: a typed error and a close, at once.
        let huge = try flood(daemon, Self.nobody, .huge, 20, hold: 3, size: VarlinkLimits.unprivilegedMaximumMessageSize + 4096)
        try assertRootServed(daemon, "huge partial messages")
        let refused = try report(huge)
        XCTAssertEqual(refused.outcomes["io.culvert.Varlink.InvalidMessage"], 20, "\(refused.outcomes)")
        XCTAssertLessThan(refused.errorDelays.last ?? 99, 1.0, "refused as soon as the limit was passed")
        // Root's own limit is still 16 MiB: a 1 MiB message is an answered call.
        let big = try daemon.connect()
        do {
            _ = try big.call("io.culvert.Manager.Ping", ["x": .string(String(repeating: "a", count: 1 << 20))])
            XCTFail("Ping takes no x")
        } catch VarlinkClientError.remote(let error) {
            XCTAssertEqual(error.name, "org.varlink.service.InvalidParameter")
        }
    }

    func testTricklingAndIdleConnectionsAreClosedAtTheirDeadlinesButAWatchIsNot() throws {
        let daemon = try startBudgetDaemon(["--test-partial-message-deadline", "2", "--test-idle-deadline", "2"])
        let trickle = try flood(daemon, Self.nobody, .trickle, 40, hold: 8)
        let idle = try flood(
            daemon, ["--reuid=\(Self.strangers[0])", "--regid=\(Self.strangers[0])", "--clear-groups"], .idle, 40, hold: 8)
        let watch = try flood(daemon, Self.member, .watch, 2, hold: 5)
        try assertRootServed(daemon, count: 20, "trickling and idle connections")
        let trickled = try report(trickle)
        XCTAssertEqual(trickled.outcomes["io.culvert.Varlink.PartialMessageTimeout"], 40, "\(trickled.outcomes)")
        // The deadline runs from a message's first byte: bytes trickling in do not extend it.
        XCTAssertGreaterThanOrEqual(trickled.errorDelays.first ?? 0, 1.5)
        XCTAssertLessThan(trickled.errorDelays.last ?? 99, 5.0)
        let idled = try report(idle)
        XCTAssertEqual(idled.outcomes["io.culvert.Varlink.IdleTimeout"], 40, "\(idled.outcomes)")
        XCTAssertLessThan(idled.errorDelays.last ?? 99, 5.0)
        // A reader's open Watch is a call in progress, not idleness.
        let watched = try report(watch)
        XCTAssertEqual(watched.outcomes["open"], 2, "\(watched.outcomes)")
        // Root has no idle deadline.
        let rootIdle = try daemon.connect()
        Thread.sleep(forTimeInterval: 3)
        XCTAssertNotNil(try rootIdle.call("io.culvert.Manager.Ping")["version"])
    }

    func testStrangersFillingTheGlobalCapCannotLockOutRootOrReaders() throws {
        // 40 slots: 10 reserved for root, 10 more for readers; strangers share the other 20.
        let daemon = try startBudgetDaemon(["--max-connections", "40"])
        let floods = try Self.strangers.map { uid in
            try flood(daemon, ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups"], .idle, 10, hold: 6)
        }
        // Readers can still take their reserved slots (and a Ping answers them).
        let readers = try flood(daemon, Self.member, .watch, 8, hold: 3)
        try assertRootServed(daemon, "the global cap filled by strangers")
        let status = try daemon.connect().call("io.culvert.Manager.GetStatus")
        XCTAssertEqual(status["limits"]?["other"]?["connections"]?.intValue, 20, "\(status["limits"] ?? .null)")
        XCTAssertEqual(status["limits"]?["reader"]?["connections"]?.intValue, 8)
        XCTAssertEqual(status["limits"]?["reservedForAdmin"]?.intValue, 10)
        let watched = try report(readers)
        XCTAssertEqual(watched.outcomes["open"], 8, "\(watched.outcomes)")
        var open = 0
        var refused = 0
        for flood in floods {
            let result = try report(flood)
            open += result.outcomes["open"] ?? 0
            refused += result.outcomes["io.culvert.Varlink.TooManyConnections"] ?? 0
        }
        XCTAssertEqual(open, 20)
        XCTAssertEqual(refused, 20)
    }

    func testMemoryFloodFromSeveralUidsStaysWithinBudgetsAndTheResidentBound() throws {
        let daemon = try startBudgetDaemon([])
        // Each connection parks just under 64 KiB of an unfinished message: 4 uids × 200 would be
        // 50 MiB without budgets.
        let size = VarlinkLimits.unprivilegedMaximumMessageSize - 1024
        let floods = try Self.strangers.map { uid in
            try flood(daemon, ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups"], .partial, 200, hold: 4, size: size)
        }
        var peak = 0
        for _ in 0..<10 {
            peak = max(peak, daemon.residentKilobytes)
            try assertRootServed(daemon, count: 2, "the memory flood")
        }
        var outcomes: [String: Int] = [:]
        for flood in floods {
            for (outcome, count) in try report(flood).outcomes { outcomes[outcome, default: 0] += count }
        }
        peak = max(peak, daemon.residentKilobytes)
        print("budget: memory flood outcomes \(outcomes.sorted { $0.key < $1.key }), culvertd RSS peak \(peak) KiB")
        XCTAssertGreaterThan(outcomes["io.culvert.Varlink.MemoryBudgetExceeded"] ?? 0, 0, "\(outcomes)")
        let held = (outcomes["open"] ?? 0) * size
        XCTAssertLessThanOrEqual(held, VarlinkLimits.defaultOtherMemoryBudget, "\(outcomes)")
        XCTAssertLessThan(peak, Self.residentBoundKilobytes)
    }

    func testStatusShowsLimitsAndCountsOnly() throws {
        let daemon = try startBudgetDaemon([])
        let output = try runProgram(
            Flood.setpriv, Self.member + ["--", Products.path(of: "culvertctl"), "--socket", daemon.socketPath, "status", "--json"])
        XCTAssertEqual(output.status, 0, output.output)
        let json = try JSONParser.parse(Array(output.output.utf8))
        XCTAssertEqual(json["limits"]?["reader"]?["maximumMessageSize"]?.intValue, Int64(VarlinkLimits.unprivilegedMaximumMessageSize))
        XCTAssertEqual(json["limits"]?["admin"]?["maximumMessageSize"]?.intValue, Int64(VarlinkLimits.defaultMaximumMessageSize))
        XCTAssertEqual(json["limits"]?["reader"]?["connections"]?.intValue, 1)
        XCTAssertNil(json["limits"]?["reader"]?["uid"])
        let text = try runProgram(Products.path(of: "culvertctl"), ["--socket", daemon.socketPath, "status"])
        XCTAssertTrue(text.output.contains("reserved for root"), text.output)
    }
}
