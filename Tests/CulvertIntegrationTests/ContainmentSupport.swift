// ContainmentSupport: what ContainmentTests needs around the hostile provider — its report lines
// parsed, one hostile session's life (started beside the victim, waited on, ended, checked to have
// left nothing), the victim's continuous ping, and a command's raw stdout bytes.

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

/// One `ATTACK <name> <blocked|SUCCEEDED> <detail>` line of the hostile provider.
struct AttackLine: Equatable {
    var name: String
    var blocked: Bool
    var detail: String

    init?(_ line: String) {
        let fields = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard fields.count >= 3, fields[0] == "ATTACK", fields[2] == "blocked" || fields[2] == "SUCCEEDED" else { return nil }
        name = fields[1]
        blocked = fields[2] == "blocked"
        detail = fields.count > 3 ? fields[3] : ""
    }

    static func all(in log: [String]) -> [AttackLine] { log.compactMap(AttackLine.init) }

    /// The largest `PROGRESS <mode> <n>` of `mode`, 0 if none.
    static func progress(_ mode: String, in log: [String]) -> Int {
        log.compactMap { line -> Int? in
            let fields = line.split(separator: " ")
            return fields.count == 3 && fields[0] == "PROGRESS" && fields[1] == mode ? Int(fields[2]) : nil
        }.max() ?? 0
    }
}

/// A hostile session: what was known before it started and what it was while it ran.
struct HostileRun {
    static let activeStates: Set<String> = ["connecting", "connected", "reasserting", "disconnecting"]
    /// Bound on waiting for the attacker to report.
    static let reportDeadline: TimeInterval = 90

    var profile: String
    var baseline: [String: String]
    var pid: Int32
    var uid: UInt32
    var executable: String
    var cgroup: String?

    /// Saves and connects profile `name` (hostile provider in `attack` mode), after capturing
    /// namespace A's `ip -j` state; fails the test if it does not connect or shares the victim's uid or cgroup.
    static func start(
        _ lab: TunnelLab, attack: String, options: [String: String] = [:], victim: VictimSession, file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> HostileRun {
        let profile = "hostile-" + attack
        let baseline = try lab.networkStateA()
        try lab.saveHostileProfile(profile, attack: attack, options: options)
        let reply = try lab.connect(profile)
        let session = try XCTUnwrap(reply["session"], file: file, line: line)
        XCTAssertEqual(session["state"]?.stringValue, "connected", "\(profile): \(session.jsonString)", file: file, line: line)
        let pid = Int32(try XCTUnwrap(session["pid"]?.intValue, "\(profile) has no pid", file: file, line: line))
        let uid = UInt32(try XCTUnwrap(session["uid"]?.intValue, "\(profile) has no uid", file: file, line: line))
        XCTAssertNotEqual(uid, victim.uid, "\(profile) runs under the victim's uid \(uid)", file: file, line: line)
        XCTAssertNotEqual(uid, 0, file: file, line: line)
        let cgroup = ProcessScan.cgroupDirectory(of: pid)
        XCTAssertNotNil(cgroup, "\(profile): no cgroup v2 directory for pid \(pid)", file: file, line: line)
        XCTAssertNotEqual(cgroup, victim.cgroup, "\(profile) shares the victim's cgroup \(cgroup ?? "-")", file: file, line: line)
        XCTAssertNotEqual(
            cgroup, ProcessScan.cgroupDirectory(of: getpid()), "\(profile) is in the test's own cgroup", file: file, line: line)
        let executable = try XCTUnwrap(ProcessScan.executable(of: pid), file: file, line: line)
        return HostileRun(profile: profile, baseline: baseline, pid: pid, uid: uid, executable: executable, cgroup: cgroup)
    }

    /// The session log once `done` holds for it or the session is no longer active (bounded).
    func waitForReport(_ lab: TunnelLab, until done: ([String]) -> Bool = { $0.contains("ATTACKS DONE") }) throws -> [String] {
        let deadline = Date().addingTimeInterval(Self.reportDeadline)
        while Date() < deadline {
            let log = try lab.sessionLog(profile)
            if done(log) { return log }
            if let state = try lab.session(profile)?["state"]?.stringValue, !Self.activeStates.contains(state) {
                return try lab.sessionLog(profile)
            }
            usleep(100_000)
        }
        return try lab.sessionLog(profile)
    }

    /// Disconnects (a session that already ended just answers) and checks it is `disconnected`.
    func end(_ lab: TunnelLab, file: StaticString = #filePath, line: UInt = #line) throws {
        let reply = try lab.disconnect(profile)
        XCTAssertEqual(reply["session"]?["state"]?.stringValue, "disconnected", "\(profile): \(reply.jsonString)", file: file, line: line)
    }

    /// After the session ended: nothing of it runs, its cgroup is gone, namespace A is at baseline.
    func assertLeftNothing(_ lab: TunnelLab, victim: VictimSession, file: StaticString = #filePath, line: UInt = #line) throws {
        if uid != victim.uid {
            // Nothing may run once Disconnect has returned (culvertd waits for the cgroup to empty);
            // processes that died with it are zombies until init reaps them, which takes it a
            // moment here (process_api reaps about once a second): those must be gone soon after.
            let running = ProcessScan.processes(ownedBy: uid).filter { !ProcessScan.isZombie($0.pid) }
            XCTAssertTrue(running.isEmpty, "\(profile): processes of uid \(uid) still run: \(running.prefix(20))", file: file, line: line)
            let deadline = Date().addingTimeInterval(VictimSession.leftoverDeadline)
            while !ProcessScan.processes(ownedBy: uid).isEmpty && Date() < deadline { usleep(50_000) }
            let left = ProcessScan.processes(ownedBy: uid)
            XCTAssertTrue(
                left.isEmpty, "\(profile): \(left.count) processes of uid \(uid) remain after \(VictimSession.leftoverDeadline) s",
                file: file, line: line)
        }
        let running = ProcessScan.processes(running: executable)
        XCTAssertTrue(
            running.isEmpty, "\(profile): \(running.count) processes of its executable remain: \(running.prefix(20))", file: file,
            line: line)
        if let cgroup, cgroup != victim.cgroup, cgroup != ProcessScan.cgroupDirectory(of: getpid()) {
            XCTAssertFalse(
                FileManager.default.fileExists(atPath: cgroup), "\(profile): its cgroup \(cgroup) remains", file: file, line: line)
        }
        try lab.assertNetworkState(equals: baseline, "\(profile):", file: file, line: line)
    }
}

/// The victim: the lab's ordinary test-provider session, and a ping through its tunnel for the whole test.
final class VictimSession {
    static let profile = "victim"
    static let pingIntervalSeconds = "0.2"
    /// ping ends on its own after this long, should the test fail to stop it.
    static let pingLifetimeSeconds = "900"
    /// Fewer echo requests than this means the ping did not run through the test.
    static let minimumPings = 20
    /// Bound on waiting for killed leftovers to die.
    static let leftoverDeadline: TimeInterval = 10

    let pid: Int32
    let uid: UInt32
    let id: String
    let interface: String
    let cgroup: String?
    let executable: String?
    let routes: [String]
    let ping: Process
    let pingLog: String

    init(_ lab: TunnelLab) throws {
        try lab.saveProfile(Self.profile, options: ["routes": "10.99.0.0/24"])
        let session = try XCTUnwrap(try lab.connect(Self.profile)["session"])
        XCTAssertEqual(session["state"]?.stringValue, "connected", session.jsonString)
        pid = Int32(try XCTUnwrap(session["pid"]?.intValue))
        uid = UInt32(try XCTUnwrap(session["uid"]?.intValue))
        id = try XCTUnwrap(session["id"]?.stringValue)
        interface = try XCTUnwrap(session["interface"]?.stringValue)
        routes = session["routes"]?.stringList ?? []
        cgroup = ProcessScan.cgroupDirectory(of: pid)
        executable = ProcessScan.executable(of: pid)
        pingLog = lab.directory.path + "/victim-ping.log"
        ping = try lab.namespaces.spawn(
            in: lab.namespaces.a,
            ["ping", "-n", "-i", Self.pingIntervalSeconds, "-W", "2", "-w", Self.pingLifetimeSeconds, TunnelLab.behindPeer],
            output: pingLog)
    }

    /// Cleanup between modes, not an assertion: kills every process of the lab's store that is not
    /// the victim's provider (what a hostile session left), so the next mode starts clean.
    func killHostileLeftovers(_ lab: TunnelLab) {
        let store = lab.directory.path + "/"
        let leftovers = ProcessScan.pids.filter { pid in
            guard let path = ProcessScan.executable(of: pid) else { return false }
            return path.hasPrefix(store) && path != executable
        }
        ProcessScan.kill(leftovers)
        // Until they are dead (bounded): the next mode's baseline must not include a TUN they still hold.
        let deadline = Date().addingTimeInterval(Self.leftoverDeadline)
        while leftovers.contains(where: ProcessScan.isAlive) && Date() < deadline { usleep(20_000) }
        usleep(200_000)  // the kernel deletes a TUN link after its last descriptor closed
    }

    /// Stops the ping (SIGINT: it prints its summary) and returns (transmitted, the echo sequence numbers answered).
    func stopPing() -> (transmitted: Int, answered: Set<Int>, log: String) {
        if ping.isRunning { ping.interrupt() }
        let deadline = Date().addingTimeInterval(10)
        while ping.isRunning && Date() < deadline { usleep(20_000) }
        if ping.isRunning { ping.terminate() }
        let log = (try? String(contentsOfFile: pingLog, encoding: .utf8)) ?? ""  // try?: no log is no pings, failed below
        var answered = Set<Int>()
        var transmitted = 0
        for line in log.split(separator: "\n") {
            if let range = line.range(of: "icmp_seq="), line.contains("bytes from") {
                answered.insert(Int(line[range.upperBound...].prefix { $0.isNumber }) ?? -1)
            }
            if let range = line.range(of: " packets transmitted") {
                transmitted = Int(line[..<range.lowerBound].split(separator: " ").last ?? "") ?? 0
            }
        }
        return (transmitted, answered, log)
    }
}

/// Runs `argv` to completion (killed after `timeout`) and returns its exit status and stdout bytes.
func runForBytes(_ argv: [String], timeout: TimeInterval = 30) throws -> (status: Int32, stdout: [UInt8]) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: argv[0])
    process.arguments = Array(argv.dropFirst())
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let bytes = LockedBytes()
    let reader = Thread {
        bytes.set(Array(output.fileHandleForReading.readDataToEndOfFile()))
    }
    reader.start()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
    while !bytes.isSet && Date() < deadline.addingTimeInterval(5) { usleep(10_000) }
    return (process.terminationStatus, bytes.value)
}

final class LockedBytes: @unchecked Sendable {  // every member is guarded by `lock`
    private let lock = NSLock()
    private var stored: [UInt8]?
    func set(_ value: [UInt8]) { lock.withLock { stored = value } }
    var isSet: Bool { lock.withLock { stored != nil } }
    var value: [UInt8] { lock.withLock { stored ?? [] } }
}
