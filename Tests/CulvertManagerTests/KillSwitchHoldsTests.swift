// KillSwitchHolds against the kernel, in a network namespace of the test's own thread: two holds
// share the `unreachable` rules (added with the first, removed with the last), and a starting
// culvertd's `adopt` keeps the hold of an existing profile (restoring a rule that went missing,
// removing nothing of it), releases the hold of a removed profile, removes rules no record names,
// and reports both. The nftables table (KillSwitchFirewall) comes with the first hold, stays
// through adoption, goes with the last release, and a table no hold owns is removed at start.

import CulvertCore
import CulvertSystem
import Foundation
import Logging
import XCTest

@testable import CulvertManager

final class KillSwitchHoldsTests: XCTestCase {
    func testHoldsShareTheUnreachableRuleAndAStartAdoptsCompletesAndRemoves() throws {
        let outcome = Outcome()
        let thread = Thread {
            defer { outcome.done.signal() }
            do { outcome.results = try Self.exercise() } catch { outcome.results = ["failed: \(error)"] }
        }
        thread.start()
        XCTAssertEqual(outcome.done.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(
            outcome.results,
            [
                "two holds: tables 40016 40017, rules complete",
                "a released: b's rules and unreachable remain, a's record gone",
                "adopted: b in table 40017, gone not held",
                "after adopt: exactly b's rules and unreachable",
                "problems: stale_kill_switch stale_kill_switch",
                "records left: b.json",
                "b released: no rules, no records",
                "firewall: present present present absent",
                "stale table: removed, problems: stale_kill_switch",
            ])
    }

    /// Each step's observation as a line; throws if the namespace or netlink fail.
    private static func exercise() throws -> [String] {
        try NetworkNamespace.enterNewNamespaceOnCurrentThread()
        let runtime = FileManager.default.temporaryDirectory.appendingPathComponent("culvert-ks-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runtime) }  // try?: a leftover temporary directory is harmless
        let logger = Logger(label: "test")
        let socket = try NetlinkRouteSocket()
        func profile(_ name: String, _ allow: [String] = []) -> Profile {
            Profile(name: name, extensionIdentifier: "io.x", killSwitch: true, killSwitchAllow: allow)
        }
        func listed() throws -> Set<PolicyRule> { Set(try socket.rules()) }
        func records() -> [String] {
            // try?: no directory means no records.
            ((try? FileManager.default.contentsOfDirectory(atPath: runtime + "/killswitch")) ?? []).sorted()
        }
        let allowed = [try IPPrefix("192.168.1.0/24")]
        let unreachable = Set(KillSwitchRules.unreachableRules)
        let aRules = Set(KillSwitchRules.passRules(slot: 0, allowed: allowed))
        let bRules = Set(KillSwitchRules.passRules(slot: 1, allowed: []))
        var lines: [String] = []
        var tables: [String] = []
        func noteTable() throws { tables.append(try KillSwitchFirewallSocket().exists() ? "present" : "absent") }

        let first = KillSwitchHolds(runtimeDirectory: runtime, logger: logger)
        try first.hold(profile("a", ["192.168.1.0/24"]), socket: socket)
        try first.hold(profile("b"), socket: socket)
        try first.hold(profile("b"), socket: socket)  // held already: nothing changes
        let complete = try listed() == aRules.union(bRules).union(unreachable)
        try noteTable()
        lines.append(
            "two holds: tables \(first.table(for: "a") ?? 0) \(first.table(for: "b") ?? 0), rules \(complete ? "complete" : "wrong")")

        first.release("a", socket: socket)
        let afterA = try listed() == bRules.union(unreachable) && !records().contains("a.json")
        try noteTable()
        lines.append(afterA ? "a released: b's rules and unreachable remain, a's record gone" : "a released: \(try listed())")

        // What a crashed culvertd leaves: "gone" held (its profile then removed), one of b's rules
        // deleted by someone, and rules of a slot no record names.
        try first.hold(profile("gone"), socket: socket)
        let missing = PolicyRule(
            family: .ipv6, priority: KillSwitchRules.tableRulePriority + 1, table: KillSwitchRules.table(slot: 1), selector: nil)
        try socket.removeRule(missing)
        for rule in KillSwitchRules.passRules(slot: 7, allowed: []) { try socket.addRule(rule) }

        let second = KillSwitchHolds(runtimeDirectory: runtime, logger: logger)
        let problems = second.adopt(socket: socket, exists: { $0 == "a" || $0 == "b" })
        let goneHeld = second.table(for: "gone") == nil ? "gone not held" : "gone held"
        lines.append("adopted: b in table \(second.table(for: "b") ?? 0), \(goneHeld)")
        let adopted = try listed()
        try noteTable()
        lines.append(
            adopted == bRules.union(unreachable) ? "after adopt: exactly b's rules and unreachable" : "after adopt: \(adopted)")
        lines.append("problems: " + problems.map(\.kind).joined(separator: " "))
        lines.append("records left: " + records().joined(separator: " "))

        second.release("b", socket: socket)
        lines.append(try listed().isEmpty && records().isEmpty ? "b released: no rules, no records" : "b released: \(try listed())")
        try noteTable()
        lines.append("firewall: " + tables.joined(separator: " "))

        // A table left by a culvertd whose records are gone: removed at start, reported.
        try KillSwitchFirewallSocket().replace(allowed: [], mark: KillSwitchRules.protectedMark)
        let third = KillSwitchHolds(runtimeDirectory: runtime, logger: logger)
        let stale = third.adopt(socket: socket, exists: { _ in true })
        let removed = try KillSwitchFirewallSocket().exists() ? "kept" : "removed"
        lines.append("stale table: \(removed), problems: " + stale.map(\.kind).joined(separator: " "))
        return lines
    }

    private final class Outcome: @unchecked Sendable {  // written by the thread before `done` is signalled, read after
        var results: [String] = []
        let done = DispatchSemaphore(value: 0)
    }
}
