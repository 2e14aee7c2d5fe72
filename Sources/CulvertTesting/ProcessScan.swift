// ProcessScan: what /proc says about processes, for tests that must prove a provider left
// nothing behind — processes by owner or by executable, a process's cgroup v2 directory — and
// that must clean up what a hostile provider left (killing exactly the pids found, by pid).
// Hand-written: reading /proc is a few lines, and no library the project uses does it.

import CulvertSystem
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public enum ProcessScan {
    /// Every pid in /proc now.
    public static var pids: [Int32] {
        // try?: /proc always exists on Linux; unreadable means no pids to report.
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
    }

    /// The real uid of `pid` (from /proc/PID/status), nil once it is gone.
    public static func userID(of pid: Int32) -> UInt32? {
        // try?: the process may exit while we read.
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        let line = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }
        return line.flatMap { $0.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first }.flatMap { UInt32($0) }
    }

    /// The executable `pid` runs (the /proc/PID/exe link), nil once it is gone.
    public static func executable(of pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")  // try?: gone, or a kernel thread
    }

    /// Processes whose real uid is `uid`, with their command names (for failure messages).
    public static func processes(ownedBy uid: UInt32) -> [(pid: Int32, command: String)] {
        pids.filter { userID(of: $0) == uid }.map { ($0, command(of: $0)) }
    }

    /// Processes running `executable`.
    public static func processes(running executable: String) -> [Int32] {
        pids.filter { self.executable(of: $0) == executable }
    }

    /// True if `pid` has exited and waits to be reaped (State: Z).
    public static func isZombie(_ pid: Int32) -> Bool {
        // try?: gone meanwhile (not a zombie any more).
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        return text.split(separator: "\n").contains { $0.hasPrefix("State:") && $0.contains("Z") }
    }

    public static func command(of pid: Int32) -> String {
        // try?: gone meanwhile.
        ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The directory of `pid`'s cgroup in the cgroup v2 hierarchy (its "0::" line joined to where
    /// cgroup2 is mounted), nil if either is unknown.
    public static func cgroupDirectory(of pid: Int32) -> String? {
        // try?: gone meanwhile.
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") }),
            let mount = cgroup2MountPoint
        else { return nil }
        let relative = String(line.dropFirst(3))
        return relative == "/" ? mount : mount + relative
    }

    /// Where the cgroup v2 hierarchy is mounted (/proc/self/mountinfo).
    public static var cgroup2MountPoint: String? {
        // try?: no mountinfo, no answer.
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2, halves[1].hasPrefix("cgroup2 ") else { continue }
            let fields = halves[0].split(separator: " ")
            if fields.count > 4 { return String(fields[4]) }
        }
        return nil
    }

    /// True while `pid` exists and is not a zombie (a zombie holds no descriptors any more).
    public static func isAlive(_ pid: Int32) -> Bool {
        // try?: gone.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }

    /// SIGKILLs exactly `pids` (each found by the caller) and reaps none: they are not our children.
    public static func kill(_ pids: [Int32]) {
        for pid in pids where pid > 1 { _ = Glibc.kill(pid, SIGKILL) }
    }
}
