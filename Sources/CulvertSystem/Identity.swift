// Identity: users, groups and this process — the lookups authorisation and logging need.

#if canImport(Glibc)
    import Glibc
#endif

public enum Identity {
    /// The gid of group `name`, or nil if there is no such group. The corresponding C function is `getgrnam_r`.
    public static func groupID(named name: String) -> UInt32? {
        var group = group()
        var result: UnsafeMutablePointer<group>? = nil
        var buffer = [CChar](repeating: 0, count: 16384)
        let rc = getgrnam_r(name, &group, &buffer, buffer.count, &result)
        guard rc == 0, result != nil else { return nil }
        return group.gr_gid
    }

    /// The name of user `uid`, or nil. The corresponding C function is `getpwuid_r`.
    public static func userName(of uid: UInt32) -> String? {
        var passwd = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var buffer = [CChar](repeating: 0, count: 16384)
        let rc = getpwuid_r(uid, &passwd, &buffer, buffer.count, &result)
        guard rc == 0, result != nil, let name = passwd.pw_name else { return nil }
        return String(cString: name)
    }

    public static var processID: Int32 { getpid() }
    public static var effectiveUserID: UInt32 { geteuid() }

    /// The command name of process `pid` (`/proc/PID/comm`), for logs; nil if it is gone.
    public static func commandName(of pid: Int32) -> String? {
        guard pid > 0, let bytes = try? FileSystem.readFile("/proc/\(pid)/comm") else { return nil }  // gone is fine: it is only for logs
        return String(decoding: bytes, as: UTF8.self).trimmingTrailingNewline()
    }

    /// Resident set size of process `pid` in KiB (`VmRSS` of /proc/PID/status).
    public static func residentKilobytes(of pid: Int32) -> Int? {
        guard let bytes = try? FileSystem.readFile("/proc/\(pid)/status") else { return nil }  // gone: caller reports nil
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }

    /// Number of open descriptors of this process (entries of /proc/self/fd, minus the one listing it).
    public static func openDescriptorCount() -> Int {
        ((try? FileSystem.listDirectory("/proc/self/fd"))?.count ?? 1) - 1  // unreadable /proc: report 0
    }
}

extension String {
    func trimmingTrailingNewline() -> String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}
