// Real-cgroup tests of SessionCgroup (root): under a unique sessions root, a shell's process tree
// is placed into a session cgroup (the test writes the shell's pid through the placement
// descriptors, standing in for the spawn), counted, limited (tasks, memory), killed — by
// cgroup.kill and by the signal fallback —, waited for, and removed from every hierarchy.
// tearDown kills and removes everything under the test root, whatever happened.

import Foundation
import XCTest

@testable import CulvertSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Bound on every wait in these tests.
private let waitTimeout: Duration = .seconds(20)
private let waitTimeoutSeconds = 20.0

/// A bounded wait that ran out: thrown so the test stops there (and tearDown still cleans up).
private struct WaitTimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

final class SessionCgroupTests: XCTestCase {
    private var root: CgroupSessionsRoot!  // set in setUpWithError, before any test runs
    private var processes: [Process] = []

    override func setUpWithError() throws {
        XCTAssertEqual(geteuid(), 0, "cgroup tests need root")
        let layout = try CgroupLayout.detect()
        XCTAssertNotEqual(layout.mode, .none, "no cgroup hierarchy on this machine: \(layout)")
        let name = "/culvert-test-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        root = try CgroupSessionsRoot(layout: layout, location: .explicit(name))
        try root.prepare()
    }

    override func tearDownWithError() throws {
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        guard let root else { return }
        // try?: tearDown removes what it can; a leftover is reported by the assertion below.
        for session in (try? SessionCgroup.existing(in: root)) ?? [] {
            try? session.kill()
            _ = try? session.waitUntilEmpty(timeout: waitTimeout)
            try? session.remove()
        }
        try root.removeIfEmpty()
        for directory in root.directories.values { XCTAssertFalse(FileSystem.exists(directory), directory) }
    }

    /// Starts `/bin/sh -c script` after it reads one line; returns it with its stdin and stdout.
    private func startGated(_ executable: String, _ arguments: [String], errorsToOutput: Bool = false) throws -> (Process, FileHandle, Pipe)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errorsToOutput ? output : FileHandle.nullDevice
        try process.run()
        processes.append(process)
        return (process, input.fileHandleForWriting, output)
    }

    /// Moves `pid` into `session` through its placement descriptors, as the spawned child would.
    private func place(_ pid: Int32, into session: SessionCgroup) throws {
        let placement = try session.placement()
        defer { placement.close() }
        let text = Array("\(pid)\n".utf8)
        if let directory = placement.cgroupDirectory {
            let procs = openat(directory.rawValue, "cgroup.procs", O_WRONLY | O_CLOEXEC)
            XCTAssertGreaterThanOrEqual(procs, 0)
            try Descriptor(rawValue: procs).writeAll(text)
            Descriptor(rawValue: procs).close()
        }
        for file in placement.attachFiles { try file.writeAll(text) }
        XCTAssertEqual(placement.attachFiles.count, session.hierarchies.filter { $0 != .unified }.count)
    }

    private func waitFor(_ what: String, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(waitTimeoutSeconds)
        while try !condition() {
            guard Date() < deadline else { throw WaitTimedOut(what: what) }
            usleep(10_000)
        }
    }

    private func waitForExit(_ process: Process) throws {
        try waitFor("process \(process.processIdentifier) to exit") { !process.isRunning }
    }

    /// Waits until `pid` has ended (a zombie or reaped), without relying on Foundation reaping it.
    private func waitForEnd(_ pid: Int32) throws {
        try waitFor("process \(pid) to end") {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }  // reaped
            return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
        }
    }

    private func sleepTree(in session: SessionCgroup) throws -> Process {
        let (shell, go, _) = try startGated("/bin/sh", ["-c", "read go || exit 1; sleep 100 & sleep 100 & wait"])
        try place(shell.processIdentifier, into: session)
        go.write(Data("go\n".utf8))
        try waitFor("the shell and its two sleeps") { try session.processIDs().count == 3 }
        return shell
    }

    private func assertGone(_ session: SessionCgroup) {
        for (kind, directory) in session.directories { XCTAssertFalse(FileSystem.exists(directory), "\(kind): \(directory)") }
        XCTAssertFalse(session.exists)
    }

    func testSleepTreeIsCountedKilledAndRemovedEverywhere() throws {
        let session = try SessionCgroup(name: "tree", in: root)
        let applied = try session.create(limits: CgroupLimits(tasksMax: 64, memoryMax: 256 << 20))
        XCTAssertEqual(applied.tasksMax, root.layout.enforcesTasks ? 64 : nil)
        for directory in session.directories.values { XCTAssertTrue(FileSystem.isDirectory(directory), directory) }
        let shell = try sleepTree(in: session)

        XCTAssertTrue(try session.processIDs().contains(shell.processIdentifier))
        XCTAssertTrue(try session.isPopulated())
        let usage = try session.usage()
        XCTAssertEqual(usage.tasks, 3)
        if root.layout.enforcesMemory { XCTAssertGreaterThan(usage.memoryBytes ?? 0, 0) } else { XCTAssertNil(usage.memoryBytes) }
        XCTAssertThrowsError(try session.remove()) { error in
            guard case .populated = error as? CgroupError else { return XCTFail("\(error)") }
        }

        let watch = try session.emptinessWatch()
        defer { watch?.close() }
        try session.kill()
        XCTAssertTrue(try session.waitUntilEmpty(timeout: waitTimeout))
        XCTAssertFalse(try session.isPopulated())
        if let watch {
            XCTAssertFalse(try Descriptor.waitReadable([watch.descriptor], timeout: waitTimeout).isEmpty, "cgroup.events change not seen")
            watch.drain()
            XCTAssertTrue(try Descriptor.waitReadable([watch.descriptor], timeout: .zero).isEmpty, "drain left events")
        }
        try waitForExit(shell)
        XCTAssertEqual(shell.terminationReason, .uncaughtSignal)
        XCTAssertEqual(shell.terminationStatus, SIGKILL)

        try session.remove()
        assertGone(session)
        // The name can be used again once removed.
        try session.create(limits: CgroupLimits())
        XCTAssertTrue(session.exists)
        try session.remove()
        assertGone(session)
    }

    func testSignalFallbackEmptiesTheGroup() throws {
        let session = try SessionCgroup(name: "fallback", in: root)
        try session.create(limits: CgroupLimits())
        let shell = try sleepTree(in: session)
        try session.killBySignals()
        XCTAssertTrue(try session.waitUntilEmpty(timeout: waitTimeout))
        try waitForExit(shell)
        try session.remove()
        assertGone(session)
    }

    func testTasksLimitMakesForkFail() throws {
        XCTAssertTrue(root.layout.enforcesTasks, "no pids controller: \(root.layout)")
        let tasksMax = 5
        let session = try SessionCgroup(name: "forks", in: root)
        try session.create(limits: CgroupLimits(tasksMax: tasksMax))
        let script = "read go || exit 1; i=0; while [ $i -lt 20 ]; do sleep 100 >/dev/null 2>&1 & echo started; i=$((i+1)); done"
        let (shell, go, output) = try startGated("/bin/sh", ["-c", script], errorsToOutput: true)
        try place(shell.processIdentifier, into: session)
        go.write(Data("go\n".utf8))
        try waitForEnd(shell.processIdentifier)
        // The shell has ended and the sleeps' output goes to /dev/null: the pipe is at end of file.
        let lines = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        // The shell is one task, so tasksMax - 1 sleeps fit and the next fork fails.
        XCTAssertEqual(lines.filter { $0 == "started" }.count, tasksMax - 1)
        XCTAssertTrue(lines.contains { $0.lowercased().contains("fork") }, "no fork failure reported: \(lines)")
        XCTAssertEqual(try session.processIDs().count, tasksMax - 1)
    }

    func testMemoryLimitKillsTheAllocator() throws {
        XCTAssertTrue(root.layout.enforcesMemory, "no memory controller: \(root.layout)")
        let session = try SessionCgroup(name: "memory", in: root)
        try session.create(limits: CgroupLimits(memoryMax: 64 << 20))
        let program = "import sys; sys.stdin.readline(); b = b'\\x01' * (512 << 20); print('survived')"
        let (python, go, output) = try startGated("/usr/bin/python3", ["-c", program])
        try place(python.processIdentifier, into: session)
        go.write(Data("go\n".utf8))
        try waitForExit(python)
        XCTAssertEqual(python.terminationReason, .uncaughtSignal)
        XCTAssertEqual(python.terminationStatus, SIGKILL)
        XCTAssertEqual(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "")
    }

    func testExistingFindsLeftoversAndReuseIsExplicit() throws {
        XCTAssertEqual(try SessionCgroup.existing(in: root), [])
        let first = try SessionCgroup(name: "left-1", in: root)
        let second = try SessionCgroup(name: "left_2", in: root)
        try first.create(limits: CgroupLimits(tasksMax: 10))
        try second.create(limits: CgroupLimits())
        XCTAssertEqual(try SessionCgroup.existing(in: root).map(\.name), ["left-1", "left_2"])

        XCTAssertThrowsError(try first.create(limits: CgroupLimits())) { error in
            guard case .alreadyExists = error as? CgroupError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(
            try first.create(limits: CgroupLimits(tasksMax: 20), reuseExisting: true).tasksMax, root.layout.enforcesTasks ? 20 : nil)

        // A leftover in only some hierarchies (an interrupted removal) is still found.
        if let kind = first.hierarchies.last, first.hierarchies.count > 1, let parent = root.directories[kind] {
            try CgroupFiles.removeDirectory(in: parent, named: first.name)
            XCTAssertEqual(try SessionCgroup.existing(in: root).map(\.name), ["left-1", "left_2"])
        }
        try first.remove()
        try second.remove()
        XCTAssertEqual(try SessionCgroup.existing(in: root), [])
    }

    func testStatusDescriptionNamesTheRoot() throws {
        XCTAssertTrue(root.description.hasSuffix(" under \(root.cgroupPaths[root.hierarchies[0]] ?? "?")"), root.description)
        if root.layout.unified != nil, let directory = root.directories[.unified] {
            XCTAssertEqual(root.hasKill, FileSystem.exists(directory + "/cgroup.kill"))
        }
    }
}
