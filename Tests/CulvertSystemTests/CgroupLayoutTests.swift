// Tests of CgroupLayout and CgroupSessionsRoot: detection on this machine checked against what
// /proc/self/mountinfo and /proc/self/cgroup say (read here independently), and parsing of captured
// texts for pure cgroup v2 under systemd, this machine's hybrid layout, v1 only, and none.

import Foundation
import XCTest

@testable import CulvertSystem

/// A probe answering from fixed tables, as a captured system would.
private func fixedProbe(files: [String: String], existing: Set<String> = [], subdirectories: [String: [String]] = [:]) -> CgroupProbe {
    CgroupProbe(
        readFile: { files[$0] }, exists: { existing.contains($0) || files[$0] != nil },
        subdirectories: { subdirectories[$0] ?? [] })
}

private let pureV2MountInfo = """
    22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
    25 23 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
    27 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
    """

private let hybridMountInfo = """
    31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
    32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
    35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
    37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
    39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
    40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
    """

private let hybridCgroups = """
    9:name=systemd:/
    8:pids:/
    6:freezer:/
    4:memory:/process_api/8251
    1:cpu:/
    0::/
    """

final class CgroupLayoutTests: XCTestCase {
    func testDetectionMatchesThisMachinesMountInfo() throws {
        let mountInfo = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        let cgroups = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)
        let layout = try CgroupLayout.detect()
        // The expectation, read independently: field 5 is the mount point, the type follows " - ".
        func mountPoint(type: String, option: String?) -> String? {
            for line in mountInfo.split(separator: "\n") {
                let halves = line.components(separatedBy: " - ")
                guard halves.count == 2 else { continue }
                let tail = halves[1].split(separator: " ")
                guard tail.first.map(String.init) == type else { continue }
                if let option, !tail[2].split(separator: ",").contains(Substring(option)) { continue }
                return String(line.split(separator: " ")[4])
            }
            return nil
        }
        let ownV2 = cgroups.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
        XCTAssertEqual(layout.unified?.mountPoint, mountPoint(type: "cgroup2", option: nil))
        XCTAssertEqual(layout.unified?.ownCgroup, ownV2)
        for controller in [CgroupController.pids, .memory] {
            let own = cgroups.split(separator: "\n").first {
                $0.split(separator: ":")[1].split(separator: ",").contains(Substring(controller.rawValue))
            }
            XCTAssertEqual(layout.v1[controller]?.mountPoint, mountPoint(type: "cgroup", option: controller.rawValue), "\(controller)")
            XCTAssertEqual(layout.v1[controller]?.ownCgroup, own.map { String($0.split(separator: ":", maxSplits: 2)[2]) }, "\(controller)")
        }
        if let unified = layout.unified, let directory = unified.directory(of: unified.ownCgroup) {
            let text = try String(contentsOfFile: directory + "/cgroup.controllers", encoding: .utf8)
            XCTAssertEqual(layout.unifiedControllers, Set(text.split(whereSeparator: \.isWhitespace).map(String.init)))
        }
        // The mode follows from where each limit comes from.
        let v2Has = { (name: String) in layout.unified != nil && layout.unifiedControllers.contains(name) }
        let expected: CgroupMode
        if layout.unified != nil {
            expected = (v2Has("pids") || layout.v1[.pids] == nil) && (v2Has("memory") || layout.v1[.memory] == nil) ? .unified : .hybrid
        } else {
            expected = layout.v1.isEmpty ? .none : .legacy
        }
        XCTAssertEqual(layout.mode, expected)
        XCTAssertFalse(layout.description.isEmpty)
    }

    func testPureV2UnderSystemdWithDelegation() throws {
        let own = "/system.slice/culvertd.service"
        let probe = fixedProbe(
            files: ["/sys/fs/cgroup\(own)/cgroup.controllers": "cpu memory pids\n"], existing: ["/sys/fs/cgroup\(own)/cgroup.kill"])
        let layout = CgroupLayout.parse(mountInfo: pureV2MountInfo, processCgroups: "0::\(own)\n", probe: probe)
        XCTAssertEqual(layout.mode, .unified)
        XCTAssertEqual(layout.hasKill, true)
        XCTAssertEqual(layout.hierarchy(for: .pids), .unified)
        XCTAssertEqual(layout.hierarchy(for: .memory), .unified)
        XCTAssertEqual(layout.sessionHierarchies, [.unified])
        XCTAssertTrue(layout.enforcesTasks && layout.enforcesMemory)

        let root = try CgroupSessionsRoot(layout: layout, location: .underOwnCgroup)
        XCTAssertEqual(root.cgroupPaths, [.unified: own + "/sessions"])
        XCTAssertEqual(root.directories, [.unified: "/sys/fs/cgroup\(own)/sessions"])
        XCTAssertEqual(root.description, "cgroup v2 (pids, memory) under \(own)/sessions")

        // Restarted after moving itself into <own>/daemon: the same sessions root.
        let restarted = CgroupLayout.parse(mountInfo: pureV2MountInfo, processCgroups: "0::\(own)/daemon\n", probe: probe)
        XCTAssertEqual(try CgroupSessionsRoot(layout: restarted, location: .underOwnCgroup).cgroupPaths, root.cgroupPaths)

        let session = try SessionCgroup(name: "s-1", in: root)
        XCTAssertEqual(session.directories, [.unified: "/sys/fs/cgroup\(own)/sessions/s-1"])
    }

    func testPureV2WithoutDelegatedControllersIsUnifiedWithoutLimits() {
        let probe = fixedProbe(files: ["/sys/fs/cgroup/user.slice/cgroup.controllers": "\n"])
        let layout = CgroupLayout.parse(mountInfo: pureV2MountInfo, processCgroups: "0::/user.slice\n", probe: probe)
        XCTAssertEqual(layout.mode, .unified)
        XCTAssertFalse(layout.enforcesTasks || layout.enforcesMemory)
        XCTAssertEqual(layout.hasKill, false)
    }

    func testHybridLayoutOfThisKindOfMachine() throws {
        let probe = fixedProbe(
            files: ["/sys/fs/cgroup/unified/cgroup.controllers": "hugetlb\n"],
            existing: ["/sys/fs/cgroup/unified/other/cgroup.kill"], subdirectories: ["/sys/fs/cgroup/unified": ["other"]])
        let layout = CgroupLayout.parse(mountInfo: hybridMountInfo, processCgroups: hybridCgroups, probe: probe)
        XCTAssertEqual(layout.mode, .hybrid)
        XCTAssertEqual(layout.hasKill, true)
        XCTAssertEqual(layout.unified?.mountPoint, "/sys/fs/cgroup/unified")
        XCTAssertEqual(layout.v1[.memory]?.ownCgroup, "/process_api/8251")
        XCTAssertEqual(layout.sessionHierarchies, [.unified, .v1(.pids), .v1(.memory)])
        XCTAssertEqual(layout.description, "hybrid: cgroup2 for grouping and kill, v1 pids and memory")

        let root = try CgroupSessionsRoot(layout: layout, location: .underOwnCgroup)
        XCTAssertEqual(root.directories[.unified], "/sys/fs/cgroup/unified/sessions")
        XCTAssertEqual(root.directories[.v1(.pids)], "/sys/fs/cgroup/pids/sessions")
        XCTAssertEqual(root.directories[.v1(.memory)], "/sys/fs/cgroup/memory/process_api/8251/sessions")

        let explicit = try CgroupSessionsRoot(layout: layout, location: .explicit("/culvert/sessions"))
        XCTAssertEqual(explicit.directories[.v1(.memory)], "/sys/fs/cgroup/memory/culvert/sessions")
        let session = try SessionCgroup(name: "abc_DEF-9", in: explicit)
        XCTAssertEqual(session.cgroupPaths[.v1(.pids)], "/culvert/sessions/abc_DEF-9")
    }

    func testLegacyV1OnlyUsesTheFreezer() throws {
        let mountInfo = hybridMountInfo.split(separator: "\n").filter { !$0.contains("cgroup2") }.joined(separator: "\n")
        let layout = CgroupLayout.parse(mountInfo: mountInfo, processCgroups: hybridCgroups, probe: fixedProbe(files: [:]))
        XCTAssertEqual(layout.mode, .legacy)
        XCTAssertNil(layout.hasKill)
        XCTAssertEqual(layout.sessionHierarchies, [.v1(.pids), .v1(.memory), .v1(.freezer)])
    }

    func testNoCgroupsIsNone() {
        let layout = CgroupLayout.parse(
            mountInfo: pureV2MountInfo.replacingOccurrences(of: "cgroup2", with: "tmpfs"), processCgroups: "0::/\n",
            probe: fixedProbe(files: [:]))
        XCTAssertEqual(layout.mode, .none)
        XCTAssertEqual(layout.description, "no cgroups: sessions are not contained")
        XCTAssertThrowsError(try CgroupSessionsRoot(layout: layout, location: .underOwnCgroup)) { error in
            XCTAssertEqual(error as? CgroupError, .unavailable)
        }
    }

    func testReadOnlyMountsAndEscapesAndSubtreeMounts() {
        let text = """
            41 31 0:38 / /sys/fs/cgroup/unified ro,relatime - cgroup2 cgroup2 rw
            50 31 0:39 /outer /mnt/cg\\040v2 rw,relatime - cgroup2 cgroup2 rw
            """
        let layout = CgroupLayout.parse(mountInfo: text, processCgroups: "0::/outer/me\n", probe: fixedProbe(files: [:]))
        XCTAssertEqual(layout.unified?.mountPoint, "/mnt/cg v2")
        XCTAssertEqual(layout.unified?.directory(of: "/outer/me"), "/mnt/cg v2/me")
        XCTAssertNil(layout.unified?.directory(of: "/elsewhere"))
        XCTAssertNil(layout.unified?.directory(of: "/outerx"))
    }

    func testNamesAndRootsAreValidated() throws {
        let layout = CgroupLayout.parse(mountInfo: hybridMountInfo, processCgroups: hybridCgroups, probe: fixedProbe(files: [:]))
        for bad in ["relative", "/", "/a/../b", "/a//b", "/a/./b", "/a b", "/a\n", "/" + String(repeating: "x", count: 600)] {
            XCTAssertThrowsError(try CgroupSessionsRoot(layout: layout, location: .explicit(bad)), bad) { error in
                XCTAssertEqual(error as? CgroupError, .invalidRoot(bad))
            }
        }
        let root = try CgroupSessionsRoot(layout: layout, location: .explicit("/system.slice/culvertd.service/sessions"))
        for bad in ["", ".", "..", "a/b", "a.b", "cgroup.procs", "é", String(repeating: "x", count: 65)] {
            XCTAssertThrowsError(try SessionCgroup(name: bad, in: root), bad) { error in
                XCTAssertEqual(error as? CgroupError, .invalidName(bad))
            }
        }
        XCTAssertNoThrow(try SessionCgroup(name: String(repeating: "x", count: 64), in: root))
        XCTAssertTrue(
            CgroupError.notWritable(hierarchy: .v1(.pids), path: "/sys/fs/cgroup/pids/x", errno: 30).description
                .hasPrefix("the cgroup v1 pids hierarchy is not writable"))
    }
}
