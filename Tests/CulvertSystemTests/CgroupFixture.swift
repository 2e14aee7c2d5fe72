// CgroupFixture: a fresh cgroup2 directory and fresh cgroup v1 `pids` and `memory` cgroups for one test,
// found through /proc/self/mountinfo (never assumed), and removed again (killing anything left in them).

import CulvertSystem
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One hierarchy's mount: where it is and which part of the hierarchy it shows.
struct CgroupMount {
    var mountPoint: String
    /// The mount's root within the hierarchy ("/" for a whole hierarchy).
    var root: String

    /// All cgroup mounts: the cgroup2 one and v1 ones by controller.
    static func discover() throws -> (unified: CgroupMount?, v1: [String: CgroupMount]) {
        let text = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        var unified: CgroupMount?
        var v1: [String: CgroupMount] = [:]
        for line in text.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let fields = halves[0].split(separator: " ")
            let tail = halves[1].split(separator: " ")
            guard fields.count >= 5, tail.count >= 3 else { continue }
            // Mount points are octal-escaped (\040 for a space); cgroup mounts have none in practice.
            let mount = CgroupMount(mountPoint: String(fields[4]), root: String(fields[3]))
            if tail[0] == "cgroup2", unified == nil { unified = mount }
            if tail[0] == "cgroup" {
                for option in tail[2].split(separator: ",") where v1[String(option)] == nil { v1[String(option)] = mount }
            }
        }
        return (unified, v1)
    }
}

/// The test's cgroups. `close()` kills what is left in them and removes them.
final class CgroupFixture {
    struct Failure: Error, CustomStringConvertible { var description: String }
    /// How often removal of a just-emptied cgroup is retried (the kernel finishes exits asynchronously).
    static let removalAttempts = 200
    static let removalPause: useconds_t = 10_000

    let name: String
    /// cgroup2 directory path and its path as /proc/PID/cgroup shows it.
    let unifiedPath: String
    let unifiedCgroupPath: String
    /// Controller ("pids", "memory") → (directory, path as /proc/PID/cgroup shows it).
    let v1Paths: [String: (directory: String, cgroupPath: String)]
    /// O_DIRECTORY descriptor of the cgroup2 directory and O_WRONLY `cgroup.procs` of each v1 cgroup.
    let unifiedDirectory: Descriptor
    let v1ProcsFiles: [Descriptor]

    init(controllers: [String] = ["pids", "memory"]) throws {
        let (unified, v1) = try CgroupMount.discover()
        guard let unified else { throw Failure(description: "no cgroup2 mount in /proc/self/mountinfo") }
        name = "culvert-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        func join(_ base: String, _ leaf: String) -> String { base.hasSuffix("/") ? base + leaf : base + "/" + leaf }
        var created: [String] = []
        var opened: [Descriptor] = []
        do {
            unifiedPath = join(unified.mountPoint, name)
            unifiedCgroupPath = join(unified.root, name)
            guard mkdir(unifiedPath, 0o755) == 0 else { throw Failure(description: "mkdir \(unifiedPath): errno \(errno)") }
            created.append(unifiedPath)
            var paths: [String: (String, String)] = [:]
            for controller in controllers {
                guard let mount = v1[controller] else { throw Failure(description: "no cgroup v1 \(controller) mount") }
                let directory = join(mount.mountPoint, name)
                guard mkdir(directory, 0o755) == 0 else { throw Failure(description: "mkdir \(directory): errno \(errno)") }
                created.append(directory)
                paths[controller] = (directory, join(mount.root, name))
                let fd = open(directory + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else { throw Failure(description: "open \(directory)/cgroup.procs: errno \(errno)") }
                opened.append(Descriptor(rawValue: fd))
            }
            v1Paths = paths
            let directoryFD = open(unifiedPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard directoryFD >= 0 else { throw Failure(description: "open \(unifiedPath): errno \(errno)") }
            unifiedDirectory = Descriptor(rawValue: directoryFD)
            v1ProcsFiles = opened
        } catch {
            opened.forEach { $0.close() }
            created.reversed().forEach { Self.remove($0) }
            throw error
        }
    }

    /// Kills anything left and removes every directory.
    func close() {
        unifiedDirectory.close()
        v1ProcsFiles.forEach { $0.close() }
        Self.remove(unifiedPath)
        for (_, paths) in v1Paths { Self.remove(paths.directory) }
    }

    /// /proc/PID/cgroup lines ("id:controllers:path") without their hierarchy id, expected for a member
    /// of all of the fixture's cgroups: ":<cgroup2 path>", "pids:<path>", "memory:<path>".
    var expectedMembership: Set<String> {
        Set([":\(unifiedCgroupPath)"] + v1Paths.map { "\($0.key):\($0.value.cgroupPath)" })
    }

    /// `lines` of /proc/PID/cgroup without their hierarchy ids.
    static func membership(_ lines: [String]) -> Set<String> {
        Set(lines.compactMap { line in line.firstIndex(of: ":").map { String(line[line.index(after: $0)...]) } })
    }

    /// SIGKILLs every process listed in `directory`/cgroup.procs, then rmdir, retried while busy.
    private static func remove(_ directory: String) {
        for _ in 0..<removalAttempts {
            // try?: an unreadable or vanished cgroup.procs means there is nothing to kill.
            let members = (try? String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8)) ?? ""
            for pid in members.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
            if rmdir(directory) == 0 || errno == ENOENT { return }
            usleep(removalPause)
        }
    }
}
