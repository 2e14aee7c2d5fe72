// CgroupMountInfo: the cgroup lines of /proc/self/mountinfo and the memberships in
// /proc/self/cgroup, parsed. Hand-written (the formats are proc(5)'s; no library parses them).

/// One cgroup or cgroup2 mount from /proc/self/mountinfo.
struct CgroupMountInfo: Sendable, Hashable {
    /// Field 4: the path within the hierarchy shown at the mount point.
    var root: String
    /// Field 5, with mountinfo's octal escapes (`\040` for a space) decoded.
    var mountPoint: String
    /// `cgroup` or `cgroup2`.
    var fileSystemType: String
    /// The super-block options after the file system type: the controllers of a v1 mount.
    var superOptions: Set<String>
    /// `ro` among the mount's or the super block's options.
    var isReadOnly: Bool

    /// The cgroup and cgroup2 mounts in `text`; lines that are malformed or of other types are skipped.
    static func parse(_ text: String) -> [CgroupMountInfo] {
        var mounts: [CgroupMountInfo] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            // id parent major:minor root mountpoint options [optional…] - type source superoptions
            guard fields.count >= 10, let dash = fields[6...].firstIndex(of: "-"), dash + 3 < fields.count else { continue }
            let type = String(fields[dash + 1])
            guard type == "cgroup" || type == "cgroup2" else { continue }
            let mountOptions = Set(fields[5].split(separator: ",").map(String.init))
            let superOptions = Set(fields[dash + 3].split(separator: ",").map(String.init))
            mounts.append(
                CgroupMountInfo(
                    root: unescape(fields[3]), mountPoint: unescape(fields[4]), fileSystemType: type,
                    superOptions: superOptions, isReadOnly: mountOptions.contains("ro") || superOptions.contains("ro")))
        }
        return mounts
    }

    /// Decodes mountinfo's `\ooo` octal escapes (space, tab, newline, backslash).
    static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        let source = Array(field.utf8)
        var index = 0
        while index < source.count {
            if source[index] == UInt8(ascii: "\\"), index + 3 < source.count,
                let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// This process's cgroups from /proc/self/cgroup: the cgroup2 one ("0::/path") and, for each
    /// v1 controller (and `name=` hierarchy), its path.
    struct Memberships: Sendable, Hashable {
        var unified: String?
        var v1: [String: String] = [:]
    }

    static func parseMemberships(_ text: String) -> Memberships {
        var result = Memberships()
        for line in text.split(separator: "\n") {
            // hierarchy-id:controller-list:path — the path may itself contain ':'.
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, fields[2].hasPrefix("/") else { continue }
            let path = String(fields[2])
            if fields[0] == "0" && fields[1].isEmpty {
                result.unified = path
            } else {
                for controller in fields[1].split(separator: ",") { result.v1[String(controller)] = path }
            }
        }
        return result
    }
}
