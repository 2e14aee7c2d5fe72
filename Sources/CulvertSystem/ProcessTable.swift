// ProcessTable: which user and group ids running processes hold, from /proc, so a provider
// identity is never handed out again while anything still runs under it (issue 11).

public enum ProcessTable {
    /// Most /proc entries one scan looks at: the kernel's PID_MAX_LIMIT, the most pids there can be.
    public static let maximumProcesses = 4_194_304

    /// The ids in `range` that some process holds as its real, effective, saved or file-system
    /// uid or gid (the `Uid:` and `Gid:` lines of /proc/PID/status). A process that ends during
    /// the scan may or may not be counted; one that starts during it under an id that was not
    /// in use can only have been started by root. Threads are not looked at separately: changing
    /// one thread's ids needs CAP_SETUID, which a provider never has.
    public static func identitiesInUse(within range: ClosedRange<UInt32>, procDirectory: String = "/proc") -> Set<UInt32> {
        // try?: without /proc nothing can be shown to be in use; the caller's cgroup check still applies.
        let entries = (try? FileSystem.listDirectory(procDirectory)) ?? []
        var inUse: Set<UInt32> = []
        for entry in entries.prefix(maximumProcesses) where !entry.isEmpty && entry.allSatisfy(\.isASCIIDigit) {
            // try?: a process that ended since the listing holds nothing.
            guard let bytes = try? FileSystem.readFile(procDirectory + "/" + entry + "/status") else { continue }
            for id in identities(inStatus: String(decoding: bytes, as: UTF8.self)) where range.contains(id) {
                inUse.insert(id)
            }
        }
        return inUse
    }

    /// Every id on the `Uid:` and `Gid:` lines of a /proc/PID/status text.
    public static func identities(inStatus text: String) -> [UInt32] {
        var ids: [UInt32] = []
        for line in text.split(separator: "\n") where line.hasPrefix("Uid:") || line.hasPrefix("Gid:") {
            ids += line.dropFirst(4).split(whereSeparator: { $0 == "\t" || $0 == " " }).compactMap { UInt32($0) }
        }
        return ids
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
