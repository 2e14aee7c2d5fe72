// ContainmentReadoptionTests: what the cgroups and identities promise across a culvertd crash and
// over time (issue 11, items 1 and 2) — a damaged or deleted session record never leaves an
// unmanaged tunnel running (re-adoption goes by cgroup), and an identity is never handed out while
// any process still runs under it.

import CulvertCore
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class ContainmentReadoptionTests: XCTestCase {
    /// Bound on waiting for processes the kernel is killing to be gone.
    static let goneDeadline: TimeInterval = 10

    func testADamagedRecordsProviderIsKilledThroughItsCgroup() throws {
        try assertUnmanagedProviderIsKilled { record in
            try Data("{\"format\":".utf8).write(to: URL(fileURLWithPath: record))
        }
    }

    func testADeletedRecordsProviderIsKilledThroughItsCgroup() throws {
        try assertUnmanagedProviderIsKilled { record in try FileManager.default.removeItem(atPath: record) }
    }

    /// Connects, crashes culvertd, damages the record with `damage`, restarts culvertd: the
    /// provider (which kept its tunnel while culvertd was down) must be gone with its cgroup, its
    /// TUN and everything it set, and the session not re-adopted.
    private func assertUnmanagedProviderIsKilled(_ damage: (String) throws -> Void) throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        let before = try h.networkStateA()
        let session = try XCTUnwrap(try h.connect("lab")["session"])
        let pid = try XCTUnwrap(session["pid"]?.intValue)
        let uid = try XCTUnwrap(session["uid"]?.intValue)
        let id = try XCTUnwrap(session["id"]?.stringValue)
        let cgroup = try XCTUnwrap(ProcessScan.cgroupDirectory(of: Int32(pid)), "the provider's cgroup")
        XCTAssertTrue(cgroup.hasSuffix("/" + id), "the provider runs in its session's cgroup: \(cgroup)")

        h.daemon.crash()
        XCTAssertTrue(ProcessScan.isAlive(Int32(pid)), "the provider outlives culvertd, waiting to be re-adopted")
        try damage(h.daemon.runtimeDirectory + "/sessions/\(id).json")
        try h.daemon.start()

        let deadline = Date().addingTimeInterval(Self.goneDeadline)
        while (ProcessScan.isAlive(Int32(pid)) || !ProcessScan.processes(ownedBy: UInt32(uid)).isEmpty) && Date() < deadline {
            usleep(50_000)
        }
        XCTAssertFalse(ProcessScan.isAlive(Int32(pid)), "the unmanaged provider still runs")
        XCTAssertEqual(ProcessScan.processes(ownedBy: UInt32(uid)).count, 0, "processes of uid \(uid) remain")
        XCTAssertFalse(FileManager.default.fileExists(atPath: cgroup), "its cgroup \(cgroup) remains")
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: h.daemon.runtimeDirectory + "/sessions/\(id)"), "its rendezvous directory remains")
        try h.assertNetworkState(equals: before, "after the unmanaged provider was killed")
        let status = try h.daemon.connect().call("io.culvert.Manager.GetStatus", [:], timeoutMilliseconds: 10_000)
        XCTAssertEqual(status["status"]?["sessions"], .array([]), "nothing was re-adopted")
    }

    func testAnIdentityIsNotHandedOutWhileAProcessRunsUnderIt() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        // The first identity of the range is the first one handed out, unless something still runs under it.
        let squatter = Process()
        squatter.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        squatter.arguments = ["--reuid=90000", "--regid=90000", "--clear-groups", "/bin/sleep", "60"]
        try squatter.run()
        defer {
            squatter.terminate()
            squatter.waitUntilExit()
        }
        let deadline = Date().addingTimeInterval(Self.goneDeadline)
        while ProcessScan.processes(ownedBy: 90000).isEmpty && Date() < deadline { usleep(20_000) }
        XCTAssertFalse(ProcessScan.processes(ownedBy: 90000).isEmpty, "the squatter runs as 90000")

        let first = try XCTUnwrap(try h.connect("lab")["session"]?["uid"]?.intValue)
        XCTAssertNotEqual(first, 90000, "an identity a process still runs under was handed out")
        XCTAssertTrue((90001...99999).contains(first), "\(first)")
        _ = try h.disconnect("lab")
        // Released identities go to the back: the next session gets another one.
        let second = try XCTUnwrap(try h.connect("lab")["session"]?["uid"]?.intValue)
        XCTAssertNotEqual(second, first, "a just-released identity was handed out again at once")
        XCTAssertNotEqual(second, 90000)
        _ = try h.disconnect("lab")
    }

    func testRefusedCallsStayRefusedAndCountedAcrossAReexec() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        _ = try h.connect("lab")
        XCTAssertEqual(try message(h, "refused-call"), "chroot=-1 errno=\(EPERM)", "the filter refuses with EPERM")
        try waitForDenials(h, count: 1)

        _ = try h.control.call("io.culvert.Manager.Reexec", [:], timeoutMilliseconds: 10_000)
        _ = try h.control.call("io.culvert.Manager.Ping", [:], timeoutMilliseconds: 10_000)
        // Without the carried listener the kernel would answer ENOSYS and nobody would count.
        XCTAssertEqual(try message(h, "refused-call"), "chroot=-1 errno=\(EPERM)", "still EPERM after the re-exec")
        try waitForDenials(h, count: 2)
    }

    private func message(_ h: TunnelLab, _ text: String) throws -> String {
        let answer = try h.control.call(
            "io.culvert.Manager.SendProviderMessage", ["profile": .string("lab"), "data": .string(Data(text.utf8).base64EncodedString())],
            timeoutMilliseconds: 10_000)
        return Data(base64Encoded: answer["data"]?.stringValue ?? "").map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Waits (bounded) until the session's containment reports `count` refused calls, the last `chroot`.
    private func waitForDenials(_ h: TunnelLab, count: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let wanted = Int64(count)
        let session = try h.waitForSession("lab", timeout: Self.goneDeadline) { $0["containment"]?["deniedCalls"]?.intValue == wanted }
        let containment = session?["containment"]
        XCTAssertEqual(containment?["deniedCalls"]?.intValue, wanted, "\(String(describing: containment))", file: file, line: line)
        XCTAssertEqual(containment?["deniedCallNames"]?.arrayValue?.last?.stringValue, "chroot", file: file, line: line)
    }

    func testAManifestsDeclaredLimitsApplyWithinThePolicyMaximum() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        try h.installTestProvider(version: "1.0.1", limits: (tasks: 32, memory: 64 << 20))
        let containment = try XCTUnwrap(try h.connect("lab")["session"]?["containment"])
        XCTAssertEqual(containment["tasksMax"]?.intValue, 32)
        XCTAssertEqual(containment["memoryMax"]?.intValue, 64 << 20)
        _ = try h.disconnect("lab")

        // Above --provider-tasks-max (4096 by default): refused at launch, naming both numbers.
        try h.installTestProvider(version: "1.0.2", limits: (tasks: 5000, memory: nil))
        let error = TunnelLab.remoteError { try h.connect("lab") }
        XCTAssertEqual(error?.name, "io.culvert.Manager.ConnectFailed", "\(String(describing: error))")
        XCTAssertEqual(error?.parameters["reason"]?.stringValue, "spawn_failed")
        let description = error?.parameters["description"]?.stringValue ?? ""
        XCTAssertTrue(description.contains("5000 tasks") && description.contains("4096"), description)
    }
}
