// CgroupLayout: which cgroup hierarchies this machine has and where this process sits in them —
// detected from /proc/self/mountinfo and /proc/self/cgroup, never assumed — and from that, how
// session cgroups are made (cgroup2 for grouping and cgroup.kill; pids and memory from cgroup2
// when its controllers are ours, else from v1 hierarchies) and which limits hold. Hand-written:
// no Swift library reads cgroup layouts.

/// A cgroup controller Culvert uses.
public enum CgroupController: String, Sendable, Hashable, CaseIterable {
    case pids, memory, freezer
}

/// How session cgroups are made on this machine.
public enum CgroupMode: String, Sendable, Hashable {
    /// cgroup2 alone, with the pids and memory controllers ours (systemd with `Delegate=yes`).
    case unified
    /// cgroup2 for grouping (and kill), pids and/or memory from v1 hierarchies.
    case hybrid
    /// v1 hierarchies only.
    case legacy
    /// No usable hierarchy: no containment.
    case none
}

/// One mounted cgroup hierarchy and this process's cgroup in it.
public struct CgroupHierarchy: Sendable, Hashable {
    public let kind: CgroupHierarchyKind
    /// Where it is mounted, e.g. `/sys/fs/cgroup/unified`.
    public let mountPoint: String
    /// The cgroup shown at the mount point (`/` unless the mount is of a subtree).
    public let mountRoot: String
    /// This process's cgroup, as /proc/self/cgroup names it, e.g. `/system.slice/culvertd.service`.
    public let ownCgroup: String

    public init(kind: CgroupHierarchyKind, mountPoint: String, mountRoot: String, ownCgroup: String) {
        self.kind = kind
        self.mountPoint = mountPoint
        self.mountRoot = mountRoot
        self.ownCgroup = ownCgroup
    }

    /// The directory of `cgroup` under the mount point; nil when the mount does not show it.
    public func directory(of cgroup: String) -> String? {
        let root = mountRoot == "/" ? "" : mountRoot
        guard cgroup == mountRoot || cgroup.hasPrefix(root + "/") else { return nil }
        let relative = cgroup.dropFirst(root.count)
        let base = mountPoint == "/" ? "" : mountPoint
        return relative.isEmpty || relative == "/" ? mountPoint : base + relative
    }
}

/// Reads files for `CgroupLayout.parse`: the system's, or a test's captured ones.
public struct CgroupProbe: Sendable {
    /// The text of a file, nil if it cannot be read.
    public var readFile: @Sendable (String) -> String?
    /// Whether a path names an entry (not following a final symlink).
    public var exists: @Sendable (String) -> Bool
    /// The subdirectories of a directory (empty if it cannot be read).
    public var subdirectories: @Sendable (String) -> [String]

    public init(
        readFile: @escaping @Sendable (String) -> String?, exists: @escaping @Sendable (String) -> Bool,
        subdirectories: @escaping @Sendable (String) -> [String]
    ) {
        self.readFile = readFile
        self.exists = exists
        self.subdirectories = subdirectories
    }

    /// The running system's files.
    public static let system = CgroupProbe(
        // try?: an unreadable file is "absent" to layout detection, which then uses less.
        readFile: { path in (try? FileSystem.readFile(path)).map { String(decoding: $0, as: UTF8.self) } },
        exists: { path in FileSystem.exists(path) },
        subdirectories: { path in (try? CgroupFiles.subdirectories(path)) ?? [] }  // try?: as above
    )
}

/// The cgroup layout this process finds, and what Culvert makes of it.
public struct CgroupLayout: Sendable, Hashable, CustomStringConvertible {
    /// The cgroup2 hierarchy, if mounted (writable) and showing our cgroup.
    public let unified: CgroupHierarchy?
    /// Controllers our cgroup2 cgroup may hand to its children (its `cgroup.controllers`).
    public let unifiedControllers: Set<String>
    /// Whether cgroup2 has `cgroup.kill` (Linux 5.14); nil if no non-root cgroup was there to look
    /// at (`CgroupSessionsRoot.prepare` finds out in the directory it makes).
    public let hasKill: Bool?
    /// Writable v1 hierarchies of the controllers Culvert uses, with our cgroup in each.
    public let v1: [CgroupController: CgroupHierarchy]

    public init(
        unified: CgroupHierarchy?, unifiedControllers: Set<String>, hasKill: Bool?, v1: [CgroupController: CgroupHierarchy]
    ) {
        self.unified = unified
        self.unifiedControllers = unifiedControllers
        self.hasKill = hasKill
        self.v1 = v1
    }

    /// Where the limit of `controller` (pids or memory) is enforced; nil: nowhere.
    public func hierarchy(for controller: CgroupController) -> CgroupHierarchyKind? {
        if unified != nil && unifiedControllers.contains(controller.rawValue) { return .unified }
        return v1[controller] != nil ? .v1(controller) : nil
    }

    /// The hierarchies a session cgroup is made in, cgroup2 first: cgroup2 if mounted, v1 pids and
    /// memory where cgroup2 lacks them, and the v1 freezer when there is no cgroup2 (to stop forks
    /// while killing).
    public var sessionHierarchies: [CgroupHierarchyKind] {
        var kinds: [CgroupHierarchyKind] = unified != nil ? [.unified] : []
        for controller in [CgroupController.pids, .memory] where hierarchy(for: controller) == .v1(controller) {
            kinds.append(.v1(controller))
        }
        if unified == nil && v1[.freezer] != nil { kinds.append(.v1(.freezer)) }
        return kinds
    }

    /// The mounted hierarchy of `kind`, if Culvert uses it.
    public func mounted(_ kind: CgroupHierarchyKind) -> CgroupHierarchy? {
        switch kind {
        case .unified: return unified
        case .v1(let controller): return v1[controller]
        }
    }

    public var mode: CgroupMode {
        let limits = [CgroupController.pids, .memory].compactMap(hierarchy(for:))
        if unified != nil { return limits.contains(where: { $0 != .unified }) ? .hybrid : .unified }
        return sessionHierarchies.isEmpty ? .none : .legacy
    }

    /// Whether a session's task count can be limited.
    public var enforcesTasks: Bool { hierarchy(for: .pids) != nil }
    /// Whether a session's memory can be limited.
    public var enforcesMemory: Bool { hierarchy(for: .memory) != nil }

    /// One line for `culvertctl status`, e.g. "hybrid: cgroup2 for grouping and kill, v1 pids and memory".
    public var description: String { describe(kill: hasKill) }

    func describe(kill: Bool?) -> String {
        let v2Limits = [CgroupController.pids, .memory].filter { hierarchy(for: $0) == .unified }.map(\.rawValue)
        let v1Limits = [CgroupController.pids, .memory].filter { hierarchy(for: $0) == .v1($0) }.map(\.rawValue)
        let killText = kill == true ? " and kill" : kill == nil ? "" : " (no cgroup.kill: kill by signals)"
        switch mode {
        case .none: return "no cgroups: sessions are not contained"
        case .unified:
            return v2Limits.isEmpty
                ? "cgroup v2 for grouping\(killText), no limits (pids and memory controllers not delegated)"
                : "cgroup v2 (\(v2Limits.joined(separator: ", ")))"
        case .hybrid:
            let v2Text = v2Limits.isEmpty ? "" : ", v2 \(v2Limits.joined(separator: " and "))"
            return "hybrid: cgroup2 for grouping\(killText)\(v2Text), v1 \(v1Limits.joined(separator: " and "))"
        case .legacy:
            let freezer = v1[.freezer] != nil ? " with freezer" : " without freezer"
            return "cgroup v1 only (\(v1Limits.joined(separator: " and "))\(v1Limits.isEmpty ? "no limits" : ""); kill by signals\(freezer)"
        }
    }

    /// The running process's layout.
    public static func detect() throws(CgroupError) -> CgroupLayout {
        let mountInfoPath = "/proc/self/mountinfo"
        let cgroupPath = "/proc/self/cgroup"
        let mountInfo: [UInt8]
        let cgroups: [UInt8]
        do {
            mountInfo = try FileSystem.readFile(mountInfoPath)
            cgroups = try FileSystem.readFile(cgroupPath)
        } catch {
            throw .unreadable(path: error.path ?? mountInfoPath, errno: error.errno, detail: "\(error.call) failed")
        }
        return parse(
            mountInfo: String(decoding: mountInfo, as: UTF8.self), processCgroups: String(decoding: cgroups, as: UTF8.self),
            probe: .system)
    }

    /// The layout described by the text of /proc/self/mountinfo and /proc/self/cgroup, with
    /// `probe` reading the cgroup files it needs (controllers, cgroup.kill).
    public static func parse(mountInfo: String, processCgroups: String, probe: CgroupProbe) -> CgroupLayout {
        let mounts = CgroupMountInfo.parse(mountInfo).filter { !$0.isReadOnly }
        let memberships = CgroupMountInfo.parseMemberships(processCgroups)

        var unified: CgroupHierarchy?
        if let own = memberships.unified {
            for mount in mounts where mount.fileSystemType == "cgroup2" {
                let candidate = CgroupHierarchy(kind: .unified, mountPoint: mount.mountPoint, mountRoot: mount.root, ownCgroup: own)
                if candidate.directory(of: own) != nil {
                    unified = candidate
                    break
                }
            }
        }
        var controllers: Set<String> = []
        var hasKill: Bool?
        if let unified, let directory = unified.directory(of: unified.ownCgroup) {
            let text = probe.readFile(directory + "/cgroup.controllers") ?? ""
            controllers = Set(text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
            if unified.ownCgroup != "/" {
                hasKill = probe.exists(directory + "/cgroup.kill")
            } else if let child = probe.subdirectories(directory).first {
                hasKill = probe.exists(directory + "/" + child + "/cgroup.kill")
            }
        }

        var v1: [CgroupController: CgroupHierarchy] = [:]
        for controller in CgroupController.allCases {
            guard let own = memberships.v1[controller.rawValue] else { continue }
            for mount in mounts where mount.fileSystemType == "cgroup" && mount.superOptions.contains(controller.rawValue) {
                let candidate = CgroupHierarchy(kind: .v1(controller), mountPoint: mount.mountPoint, mountRoot: mount.root, ownCgroup: own)
                if candidate.directory(of: own) != nil {
                    v1[controller] = candidate
                    break
                }
            }
        }
        return CgroupLayout(unified: unified, unifiedControllers: controllers, hasKill: hasKill, v1: v1)
    }
}
