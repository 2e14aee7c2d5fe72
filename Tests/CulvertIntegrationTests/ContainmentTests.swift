// Containment (issue 11 acceptance): a hostile provider, its own signed extension, runs beside a
// victim session — one session per attack mode — and tries to read and steal from the victim,
// replace its rendezvous, leave namespaces and limits, outlive its session, make root delete a
// directory through a symlink swap, capture the victim's routes, and abuse its channel. Every
// attack must fail, the victim's pings through its tunnel must all be answered, and after each
// hostile session no process of its uid, no cgroup and no network object of it may remain.
// The attacker: Tests/Fixtures/culvert-hostile-provider. Helpers: ContainmentSupport.swift.

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class ContainmentTests: XCTestCase {
    /// The probes every `probe` run must report, each `blocked`.
    static let probeAttacks = [
        "proc-environ", "proc-maps", "proc-mem", "proc-fd-list", "proc-fd-open-3", "proc-fd-open-4", "ptrace-attach", "ptrace-seize",
        "process-vm-readv", "kill-0", "kill-sigstop", "pidfd-open", "pidfd-getfd-3", "pidfd-getfd-4", "rendezvous-rename-0",
        "rendezvous-unlink-0", "rendezvous-bind-0", "unshare-user", "unshare-net", "unshare-user-net", "clone-newns", "clone-newuser",
        "socket-packet", "socket-raw-icmp", "socket-netlink-route", "mount", "bpf-map-create", "keyctl-join-session",
    ]
    /// What the fork bomb aims for, and how far below it the session's tasks limit must stop it.
    static let forkBombTarget = 1_500
    static let forkBombCeiling = 750
    static let memoryTargetMiB = 1_536
    /// Files in the root-owned directory the symlink swap aims culvertd's removal at.
    static let victimFileCount = 2_000
    /// Bounds on what a 15 MiB cancel reason may cost: every GetStatus, and the description kept.
    static let statusReplyLimit = 512 * 1024
    static let failureDescriptionLimit = 64 * 1024
    /// The settings `routes` asks for, each with the refusal it must get.
    static let routeAttempts: [(attack: String, reason: String)] = [
        ("route-overlaps-session", "conflicts_with_session"), ("address-overlaps-session", "conflicts_with_session"),
        ("route-captures-underlay", "captures_underlay"), ("route-reserved-prefix", "reserved_prefix"),
    ]
    /// Bound on culvertd noticing the excess descriptors and ending the session.
    static let protocolViolationDeadline: TimeInterval = 20
    /// Bytes a terminal acts on that provider text must never carry to the operator's terminal.
    static let terminalControlBytes: Set<UInt8> = [0x1b, 0x07, 0x9b]

    func testHostileProviderIsContainedBesideAVictim() throws {
        let lab = try TunnelLab(test: self)
        try lab.installHostileProvider()
        let victim = try VictimSession(lab)
        let labDirectory = lab.directory.path
        addTeardownBlock {
            if victim.ping.isRunning { victim.ping.terminate() }
            // Whatever the hostile sessions left: processes running an executable of this lab's store.
            ProcessScan.kill(ProcessScan.pids.filter { ProcessScan.executable(of: $0)?.hasPrefix(labDirectory + "/") ?? false })
        }
        let modes: [(String, (TunnelLab, VictimSession) throws -> HostileRun)] = [
            ("probe", probe), ("forkbomb", forkBomb), ("memory", memory), ("linger", linger), ("symlinkswap", symlinkSwap),
            ("routes", routes), ("cancelhuge", cancelHuge), ("fds", excessDescriptors), ("escapes", escapes),
        ]
        for (mode, body) in modes {
            do {
                let run = try body(lab, victim)
                try run.assertLeftNothing(lab, victim: victim)
            } catch {
                XCTFail("\(mode): \(error)")
            }
            victim.killHostileLeftovers(lab)
        }

        let victimNow = try XCTUnwrap(try lab.session(VictimSession.profile))
        XCTAssertEqual(victimNow["state"]?.stringValue, "connected", victimNow.jsonString)
        XCTAssertEqual(victimNow["pid"]?.intValue, Int64(victim.pid), "the victim's provider was replaced")
        XCTAssertEqual(victimNow["routes"]?.stringList, victim.routes)
        let pings = victim.stopPing()
        XCTAssertGreaterThanOrEqual(pings.transmitted, VictimSession.minimumPings, pings.log)
        // The last request may have been in flight when ping was interrupted; every earlier one must be answered.
        let lost = Set(1..<max(pings.transmitted, 1)).subtracting(pings.answered)
        XCTAssertTrue(lost.isEmpty, "the victim lost \(lost.count) of \(pings.transmitted) pings: \(lost.sorted().prefix(40))")
    }

    private func probe(_ lab: TunnelLab, _ victim: VictimSession) throws -> HostileRun {
        let run = try HostileRun.start(
            lab, attack: "probe",
            options: [
                "victimPid": String(victim.pid),
                "victimRendezvous": lab.daemon.runtimeDirectory + "/sessions/\(victim.id)/rendezvous.sock",
            ], victim: victim)
        let log = try run.waitForReport(lab)
        let attacks = AttackLine.all(in: log)
        XCTAssertTrue(log.contains("ATTACKS DONE"), "probe: no ATTACKS DONE:\n\(log.suffix(40).joined(separator: "\n"))")
        for name in Self.probeAttacks where !attacks.contains(where: { $0.name == name }) { XCTFail("probe: no report of \(name)") }
        for attack in attacks where !attack.blocked { XCTFail("probe: \(attack.name) SUCCEEDED: \(attack.detail)") }
        // The figures for the record (docs, closing notes): each attack and what stopped it.
        for attack in attacks { print("containment probe: \(attack.name) \(attack.blocked ? "blocked" : "SUCCEEDED") \(attack.detail)") }
        try run.end(lab)
        return run
    }

    private func forkBomb(_ lab: TunnelLab, _ victim: VictimSession) throws -> HostileRun {
        let run = try HostileRun.start(lab, attack: "forkbomb", victim: victim)
        let log = try run.waitForReport(lab) { $0.contains("ATTACKS DONE") || $0.contains { $0.hasPrefix("ATTACK forkbomb ") } }
        let started = AttackLine.progress("forkbomb", in: log)
        XCTAssertLessThan(started, Self.forkBombCeiling, "forkbomb: \(started) of \(Self.forkBombTarget) children started")
        print("containment forkbomb: \(started) of \(Self.forkBombTarget) children started")
        try run.end(lab)
        return run
    }

    private func memory(_ lab: TunnelLab, _ victim: VictimSession) throws -> HostileRun {
        let run = try HostileRun.start(lab, attack: "memory", victim: victim)
        let log = try run.waitForReport(lab) { $0.contains("ATTACKS DONE") || $0.contains { $0.hasPrefix("ATTACK memory ") } }
        let reached = AttackLine.progress("memory", in: log)
        XCTAssertLessThan(reached, Self.memoryTargetMiB, "memory: touched \(reached) MiB")
        print("containment memory: touched \(reached) of \(Self.memoryTargetMiB) MiB")
        try run.end(lab)
        return run
    }

    private func linger(_ lab: TunnelLab, _ victim: VictimSession) throws -> HostileRun {
        let run = try HostileRun.start(lab, attack: "linger", victim: victim)
        let log = try run.waitForReport(lab)
        XCTAssertTrue(log.contains("ATTACKS DONE"), "linger: \(log.suffix(10))")
        try run.end(lab)
        return run
    }

    private func symlinkSwap(_ lab: TunnelLab, _ victim: VictimSession) throws -> HostileRun {
        let target = try TemporaryDirectory(prefix: "culvert-victim-files")
        addTeardownBlock { target.remove() }
        chmod(target.path, 0o755)
        for index in 0..<Self.victimFileCount {
            try Data("root's file \(index)\n".utf8).write(to: URL(fileURLWithPath: target.path + String(format: "/f%04d", index)))
        }
        let run = try HostileRun.start(lab, attack: "symlinkswap", options: ["victimDirectory": target.path], victim: victim)
        let log = try run.waitForReport(lab)
        XCTAssertTrue(log.contains("ATTACKS DONE"), "symlinkswap: \(log.suffix(10))")
        usleep(300_000)  // let the swapper run before the removal it races (not an assertion's timing)
        try run.end(lab)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: target.path).count) ?? 0  // try?: a deleted directory has 0
        XCTAssertEqual(left, Self.victimFileCount, "symlinkswap: culvertd deleted \(Self.victimFileCount - left) of root's files")
        return run
    }

    private func routes(_ lab: TunnelLab, _ victim: VictimSession) throws -> HostileRun {
        let probes = [TunnelLab.behindPeer, TunnelLab.tunnelAddressB, NetworkNamespacePair.addressB, "127.0.0.1"]
        let before = try probes.map { try lab.namespaces.ip(in: lab.namespaces.a, ["-j", "route", "get", $0]) }
        let run = try HostileRun.start(
            lab, attack: "routes",
            options: [
                "overlapRoute": "10.99.0.0/24", "overlapAddress": "10.77.0.5/24",
                "underlayRoute": NetworkNamespacePair.addressB + "/32", "reservedRoute": "127.0.0.0/8",
            ], victim: victim)
        let log = try run.waitForReport(lab)
        let attacks = AttackLine.all(in: log)
        for (name, reason) in Self.routeAttempts {
            guard let attack = attacks.first(where: { $0.name == name }) else {
                XCTFail("routes: no report of \(name)")
                continue
            }
            XCTAssertTrue(
                attack.detail.hasPrefix("InvalidSettings:\(reason)"),
                "routes: \(name) answered \(attack.blocked ? "" : "SUCCEEDED ")\(attack.detail)")
        }
        let after = try probes.map { try lab.namespaces.ip(in: lab.namespaces.a, ["-j", "route", "get", $0]) }
        XCTAssertEqual(after, before, "routes: the victim's routes changed while the hostile session ran")
        XCTAssertEqual(try lab.session(VictimSession.profile)?["routes"]?.stringList, victim.routes)
        try run.end(lab)
        return run
    }

    private func cancelHuge(_ lab: TunnelLab, _ victim: VictimSession) throws -> HostileRun {
        let run = try HostileRun.start(lab, attack: "cancelhuge", victim: victim)
        _ = try run.waitForReport(lab) { _ in false }  // until the cancel has ended the session (bounded)
        let session = try XCTUnwrap(try lab.session(run.profile))
        XCTAssertFalse(HostileRun.activeStates.contains(session["state"]?.stringValue ?? ""), "cancelhuge: \(session["state"] ?? "-")")
        let description = session["failure"]?["description"]?.stringValue ?? ""
        XCTAssertLessThan(description.utf8.count, Self.failureDescriptionLimit, "cancelhuge: the failure description was kept whole")
        let size = try lab.statusReplySize()
        XCTAssertLessThan(size, Self.statusReplyLimit, "cancelhuge: GetStatus is \(size) bytes")
        try run.end(lab)
        return run
    }

    private func excessDescriptors(_ lab: TunnelLab, _ victim: VictimSession) throws -> HostileRun {
        let run = try HostileRun.start(lab, attack: "fds", victim: victim)
        let log = try run.waitForReport(lab)
        XCTAssertTrue(log.contains { $0.contains("sending Protect with 200 descriptors") }, "fds: \(log.suffix(10))")
        let ended = try lab.waitForSession(run.profile, timeout: Self.protocolViolationDeadline) {
            $0["state"]?.stringValue != "connected"
        }
        XCTAssertNotEqual(ended?["state"]?.stringValue, "connected", "fds: still connected after 200 descriptors")
        XCTAssertEqual(ended?["failure"]?["reason"]?.stringValue, "protocol_violation", "fds: \(ended?.jsonString ?? "-")")
        try run.end(lab)
        return run
    }

    private func escapes(_ lab: TunnelLab, _ victim: VictimSession) throws -> HostileRun {
        let run = try HostileRun.start(lab, attack: "escapes", victim: victim)
        _ = try run.waitForReport(lab) { _ in false }  // until its CancelTunnel has ended the session (bounded)
        let socket = ["--socket", lab.daemon.socketPath]
        for command in [["session", "log", run.profile], ["session", "show", run.profile]] {
            let result = try runForBytes([Products.path(of: "culvertctl")] + socket + command)
            XCTAssertEqual(result.status, 0, "culvertctl \(command.joined(separator: " "))")
            let text = String(decoding: result.stdout, as: UTF8.self)
            if command[1] == "log" { XCTAssertTrue(text.contains("ESCAPE clear"), "escapes: the log lines are missing:\n\(text)") }
            let found = Set(result.stdout).intersection(Self.terminalControlBytes)
            XCTAssertTrue(
                found.isEmpty,
                "culvertctl \(command.joined(separator: " ")) passes \(found.sorted().map { String(format: "0x%02x", $0) }) to the terminal"
            )
        }
        try run.end(lab)
        return run
    }
}
