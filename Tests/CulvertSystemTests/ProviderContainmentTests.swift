// ProviderContainment with real cgroups and a real seccomp filter: the exec'd program itself reports
// its cgroups (so nothing of it ran outside them), python3 issues each denied syscall and checks the
// errno, the notifier's count and names are checked, and the provider's descriptor table is listed.

import Dispatch
import Foundation
import XCTest

@testable import CulvertSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Bound on every wait for a child's output or exit.
private let childTimeout: Duration = .seconds(30)

private struct ContainmentFailure: Error, CustomStringConvertible { var description: String }

/// Spawns `path arguments` as nobody with `containment`, fds 3 and 4 a socketpair's end; collects its
/// output and exit. The process is returned closed (its pid stays valid for assertions on numbers only).
private func runContained(
    _ path: String, _ arguments: [String], containment: ProviderContainment, notifierQueue: DispatchQueue? = nil
) throws -> (exit: ProcessExit, lines: [String], process: SpawnedProcess, notifier: SeccompNotifier?) {
    let (ours, theirs) = try DescriptorPassing.socketPair()
    defer {
        ours.close()
        theirs.close()
    }
    let spawn = ProviderSpawn(
        executablePath: path, arguments: arguments, credentials: try ProviderCredentials.lookUp(userNamed: "nobody"),
        containment: containment)
    let channel = try theirs.duplicate()
    defer { channel.close() }
    let process = try spawn.spawn(tun: theirs, channel: channel)
    defer { process.close() }
    var notifier: SeccompNotifier?
    if let listener = process.seccompListener, let queue = notifierQueue {
        notifier = try SeccompNotifier(listener: listener, queue: queue)
    }
    var log = ProcessLog()
    let state = try process.collectOutput(into: &log, timeout: childTimeout)
    guard state == .endOfFile, let exit = try process.waitForExit(timeout: childTimeout) else {
        try process.kill()
        _ = try process.waitForExit(timeout: childTimeout)
        notifier?.cancel()
        throw ContainmentFailure(description: "child did not finish; output so far: \(log.lines)")
    }
    return (exit, log.lines, process, notifier)
}

final class ProviderContainmentTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(geteuid() == 0, "cgroups and spawning as another user need root")
    }

    /// clone3(CLONE_INTO_CGROUP) plus the v1 pids and memory hierarchies: the exec'd program's very own
    /// /proc/self/cgroup already shows all three.
    func testProviderStartsInsideAllCgroups() throws {
        let cgroups = try CgroupFixture()
        defer { cgroups.close() }
        let containment = ProviderContainment(cgroup: cgroups.unifiedDirectory, attachFiles: cgroups.v1ProcsFiles)
        let result = try runContained("/bin/cat", ["/proc/self/cgroup"], containment: containment)
        XCTAssertEqual(result.exit, .exited(0), "\(result.lines)")
        XCTAssertEqual(result.process.cgroupPlacement, .clonedIntoCgroup)
        XCTAssertTrue(
            cgroups.expectedMembership.isSubset(of: CgroupFixture.membership(result.lines)),
            "expected \(cgroups.expectedMembership) in \(result.lines)")
    }

    /// Without clone3 the forked child joins the cgroup2 directory itself, before exec, and says so.
    func testForkFallbackJoinsBeforeExec() throws {
        let cgroups = try CgroupFixture()
        defer { cgroups.close() }
        let containment = ProviderContainment(
            cgroup: cgroups.unifiedDirectory, attachFiles: cgroups.v1ProcsFiles, tryCloneIntoCgroup: false)
        let result = try runContained("/bin/cat", ["/proc/self/cgroup"], containment: containment)
        XCTAssertEqual(result.exit, .exited(0), "\(result.lines)")
        XCTAssertEqual(result.process.cgroupPlacement, .joinedBeforeExec)
        XCTAssertTrue(
            cgroups.expectedMembership.isSubset(of: CgroupFixture.membership(result.lines)),
            "expected \(cgroups.expectedMembership) in \(result.lines)")
    }

    /// A v1 file that cannot be written fails the spawn at its own step, and no child is left.
    func testUnwritableAttachFileFailsTheSpawn() throws {
        let readOnly = open("/dev/null", O_RDONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(readOnly, 0)
        defer { close(readOnly) }
        let containment = ProviderContainment(attachFiles: [Descriptor(rawValue: readOnly)])
        XCTAssertThrowsError(try runContained("/bin/true", [], containment: containment)) { error in
            guard case .failed(let step, let systemError)? = error as? SpawnError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(step, .attachCgroupV1)
            XCTAssertEqual(systemError.errno, EBADF)
        }
    }

    /// The policy's socket types are written as numbers (see SeccompProgram.tunnelTypes): they must be glibc's.
    func testTheTunnelSocketTypesAreGlibcsStreamAndDatagram() {
        XCTAssertEqual(SeccompProgram.tunnelTypes, [UInt64(SOCK_STREAM.rawValue), UInt64(SOCK_DGRAM.rawValue)])
    }

    /// The filter: each dangerous call fails with EPERM (clone3 with ENOSYS), ordinary tunnel work still
    /// succeeds, and the notifier counted every denial under the right name.
    func testSeccompDeniesDangerousCallsAndCountsThem() throws {
        let queue = DispatchQueue(label: "seccomp-notifier-test")
        let containment = ProviderContainment(seccomp: try SeccompProgram.provider())
        let result = try runContained(
            "/usr/bin/python3", ["-I", "-c", SeccompProbe.script], containment: containment, notifierQueue: queue)
        let notifier = try XCTUnwrap(result.notifier)
        defer { notifier.cancel() }
        XCTAssertEqual(result.exit, .exited(0), "\(result.lines)")
        let observed = Dictionary(
            result.lines.compactMap { line -> (String, String)? in
                let parts = line.split(separator: " ", maxSplits: 1)
                return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
            }, uniquingKeysWith: { first, _ in first })
        for (probe, expected) in SeccompProbe.expectations {
            XCTAssertEqual(observed[probe], expected, "\(probe); all output: \(result.lines)")
        }
        let denials = queue.sync { notifier.denials }
        XCTAssertEqual(denials.count, UInt64(SeccompProbe.deniedCalls), "names: \(denials.recentNames)")
        XCTAssertEqual(Set(denials.recentNames), SeccompProbe.deniedNames)
    }

    /// The provider never holds the listener: exactly fds 0–4 after exec, while culvertd holds it.
    func testProviderHoldsOnlyItsFiveDescriptors() throws {
        let cgroups = try CgroupFixture()
        defer { cgroups.close() }
        let containment = ProviderContainment(
            cgroup: cgroups.unifiedDirectory, attachFiles: cgroups.v1ProcsFiles, seccomp: try SeccompProgram.provider())
        let (ours, theirs) = try DescriptorPassing.socketPair()
        defer {
            ours.close()
            theirs.close()
        }
        let spawn = ProviderSpawn(
            executablePath: "/bin/sleep", arguments: ["300"], credentials: try ProviderCredentials.lookUp(userNamed: "nobody"),
            containment: containment)
        let channel = try theirs.duplicate()
        defer { channel.close() }
        let process = try spawn.spawn(tun: theirs, channel: channel)
        defer {
            _ = try? process.kill()  // try?: already gone is fine
            _ = try? process.waitForExit(timeout: childTimeout)  // try?: reaped or not, the cgroup cleanup kills
            process.close()
        }
        let listener = try XCTUnwrap(process.seccompListener)
        XCTAssertEqual(
            try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(listener.rawValue)"), "anon_inode:seccomp notify")
        // The listing must wait for sleep(1) to be asleep: until then the dynamic loader briefly holds
        // ld.so.cache and libc on fd 5 (the first free number), which CI once caught mid-load.
        try Self.waitUntilAsleep(processID: process.processID)
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processID)/fd").sorted()
        XCTAssertEqual(fds, ["0", "1", "2", "3", "4"])
        for fd in fds {
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.processID)/fd/\(fd)")
            XCTAssertFalse(target.contains("seccomp"), "fd \(fd) is \(target)")
        }
        let status = try String(contentsOfFile: "/proc/\(process.processID)/status", encoding: .utf8)
        XCTAssertTrue(status.contains("Seccomp:\t2\n"), status)
        let cgroupLines = try String(contentsOfFile: "/proc/\(process.processID)/cgroup", encoding: .utf8).split(separator: "\n").map(
            String.init)
        XCTAssertTrue(cgroups.expectedMembership.isSubset(of: CgroupFixture.membership(cgroupLines)), "\(cgroupLines)")
    }

    /// Waits (bounded) until the process is blocked in nanosleep or clock_nanosleep (x86-64 numbers 35
    /// and 230, as /proc/PID/syscall shows them), so its startup descriptors are closed.
    private static func waitUntilAsleep(processID: Int32) throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let syscall = try String(contentsOfFile: "/proc/\(processID)/syscall", encoding: .utf8)
            if syscall.hasPrefix("35 ") || syscall.hasPrefix("230 ") { return }
            usleep(2_000)
        }
        XCTFail("process \(processID) never reached its sleep within 10 s")
    }

    /// The notifier keeps a bounded list of distinct names, most recent last.
    func testDenialNamesAreBounded() {
        var denials = SeccompDenials()
        for index in 0..<1000 { denials.record("call\(index % 100)", limit: SeccompNotifier.recentNamesLimit) }
        denials.record("call5", limit: SeccompNotifier.recentNamesLimit)
        XCTAssertEqual(denials.count, 1001)
        XCTAssertEqual(denials.recentNames.count, SeccompNotifier.recentNamesLimit)
        XCTAssertEqual(denials.recentNames.last, "call5")
        XCTAssertEqual(Set(denials.recentNames).count, denials.recentNames.count)
    }

    /// Each allowed ioctl range is covered exactly by the aligned blocks (no gap, no overlap, nothing beyond).
    func testAlignedBlocksCoverExactly() {
        for (low, high) in [(UInt64(0), UInt64(0x5411)), (0x5413, 0x541B), (0x541D, 0xFFFF_FFFF), (7, 7), (1, 1000)] {
            let blocks = SeccompProgram.alignedBlocks(from: low, through: high)
            var next = low
            for block in blocks {
                XCTAssertEqual(block.value, next)
                XCTAssertEqual(block.value & ~block.mask, 0, "block \(block) is not aligned")
                next = block.value + (~block.mask + 1)
            }
            XCTAssertEqual(next, high + 1)
        }
    }

    /// The SDK's first act: the process is no longer dumpable.
    func testMarkNonDumpable() throws {
        try ProcessImage.markNonDumpable()
        XCTAssertFalse(ProcessImage.isDumpable)
    }
}
