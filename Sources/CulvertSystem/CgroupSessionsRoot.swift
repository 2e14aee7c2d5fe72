// CgroupSessionsRoot: the cgroup under which every session's cgroup is made, in each hierarchy
// the layout uses — by default `<culvertd's own cgroup>/sessions`, or an explicit absolute path
// (culvertd's --cgroup-root; tests use a unique one). `prepare` makes it and, on cgroup2 with
// controllers, enables pids and memory down to it; cgroup2 allows controllers only in cgroups
// without processes of their own, so culvertd first moves itself into `<own>/daemon`, a leaf. A
// culvertd started again later finds itself in `<own>/daemon` and strips that to find the same root.

#if canImport(Glibc)
    import Glibc
#endif

/// Where the sessions root is.
public enum CgroupRootLocation: Sendable, Hashable {
    /// `<own cgroup>/sessions` in every hierarchy (own cgroup2 cgroup without a trailing `/daemon`).
    case underOwnCgroup
    /// This absolute cgroup path in every hierarchy.
    case explicit(String)
}

/// The parent cgroup of all session cgroups.
public struct CgroupSessionsRoot: Sendable, Hashable, CustomStringConvertible {
    /// The sessions root's name under culvertd's own cgroup.
    public static let sessionsDirectoryName = "sessions"
    /// The leaf culvertd moves itself into before enabling cgroup2 controllers.
    public static let daemonDirectoryName = "daemon"
    /// Longest explicit root path accepted.
    public static let maximumPathLength = 512
    /// Longest component of an explicit root path.
    public static let maximumComponentLength = 128

    public let layout: CgroupLayout
    public let location: CgroupRootLocation
    /// The root's cgroup path in each hierarchy used (`layout.sessionHierarchies`).
    public let cgroupPaths: [CgroupHierarchyKind: String]
    /// The root's directory in each hierarchy used.
    public let directories: [CgroupHierarchyKind: String]
    /// Whether the root's cgroup2 directory has `cgroup.kill` (known after `prepare`; else the layout's guess).
    public private(set) var hasKill: Bool?

    /// The root for `layout` at `location`. Throws `.unavailable` when there is no hierarchy to
    /// use, `.invalidRoot` for an explicit path that is not absolute plain components.
    public init(layout: CgroupLayout, location: CgroupRootLocation) throws(CgroupError) {
        guard !layout.sessionHierarchies.isEmpty else { throw .unavailable }
        if case .explicit(let path) = location { try Self.validate(path) }
        var paths: [CgroupHierarchyKind: String] = [:]
        var directories: [CgroupHierarchyKind: String] = [:]
        for kind in layout.sessionHierarchies {
            // mounted(_:) is non-nil for every kind in sessionHierarchies.
            guard let hierarchy = layout.mounted(kind) else { continue }
            let path: String
            switch location {
            case .explicit(let explicit): path = explicit
            case .underOwnCgroup:
                var own = hierarchy.ownCgroup
                if kind == .unified && own.hasSuffix("/" + Self.daemonDirectoryName) {
                    own.removeLast(Self.daemonDirectoryName.count + 1)
                    if own.isEmpty { own = "/" }
                }
                path = (own == "/" ? "" : own) + "/" + Self.sessionsDirectoryName
            }
            guard let directory = hierarchy.directory(of: path) else { throw .invalidRoot(path) }
            paths[kind] = path
            directories[kind] = directory
        }
        self.layout = layout
        self.location = location
        self.cgroupPaths = paths
        self.directories = directories
        self.hasKill = layout.hasKill
    }

    /// The hierarchies session cgroups are made in, cgroup2 first.
    public var hierarchies: [CgroupHierarchyKind] { layout.sessionHierarchies }

    /// For `culvertctl status`: the layout's line, and where.
    public var description: String {
        let path = cgroupPaths[.unified] ?? hierarchies.first.flatMap { cgroupPaths[$0] } ?? "?"
        return layout.describe(kill: hasKill) + " under \(path)"
    }

    /// Makes the root in every hierarchy (existing directories are kept), enabling cgroup2's pids
    /// and memory controllers from the top of the hierarchy down to it where the layout takes them
    /// from cgroup2 — moving this process into `<cgroup>/daemon` first if it sits in a cgroup that
    /// needs them enabled. Idempotent; safe again after a restart.
    public mutating func prepare() throws(CgroupError) {
        for kind in hierarchies {
            // mounted(_:) and cgroupPaths are non-nil for every kind in hierarchies.
            guard let hierarchy = layout.mounted(kind), let path = cgroupPaths[kind] else { continue }
            let controllers = kind == .unified ? [CgroupController.pids, .memory].filter { layout.hierarchy(for: $0) == .unified } : []
            var own = hierarchy.ownCgroup
            for cgroup in Self.ancestry(of: path) {
                guard let directory = hierarchy.directory(of: cgroup) else { continue }  // above the mount
                if cgroup != hierarchy.mountRoot {
                    try Self.makeIfMissing(directory, hierarchy: kind)
                }
                guard !controllers.isEmpty else { continue }
                try Self.enable(controllers, in: directory, cgroup: cgroup, own: &own)
            }
        }
        if let directory = directories[.unified] { hasKill = CgroupFiles.exists(directory, "cgroup.kill") }
    }

    /// Removes the root in every hierarchy if no session cgroup is left in it (tests, uninstall).
    /// A root still holding sessions is `.populated` (EBUSY) or `.failed` (ENOTEMPTY).
    public func removeIfEmpty() throws(CgroupError) {
        for kind in hierarchies {
            guard let directory = directories[kind], FileSystem.exists(directory) else { continue }
            let parent = FileSystem.parentDirectory(of: directory)
            let name = String(directory.split(separator: "/").last ?? "")
            do {
                try CgroupFiles.removeDirectory(in: parent, named: name)
            } catch  where error.errno == CgroupFiles.EBUSY {
                throw .populated(hierarchy: kind, path: directory)
            } catch {
                throw CgroupError.from(error, hierarchy: kind, path: directory)
            }
        }
    }

    /// `/`, `/a`, `/a/b` … `path`.
    static func ancestry(of path: String) -> [String] {
        var result = ["/"]
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            result.append(prefix)
        }
        return result
    }

    static func validate(_ path: String) throws(CgroupError) {
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), path.utf8.count <= maximumPathLength, !components.isEmpty else { throw .invalidRoot(path) }
        for component in components {
            let plain = component.utf8.allSatisfy { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "@")
            }
            guard plain, !component.isEmpty, component != ".", component != "..", component.utf8.count <= maximumComponentLength
            else { throw .invalidRoot(path) }
        }
    }

    private static func makeIfMissing(_ directory: String, hierarchy: CgroupHierarchyKind) throws(CgroupError) {
        let parent = FileSystem.parentDirectory(of: directory)
        let name = String(directory.split(separator: "/").last ?? "")
        do {
            try CgroupFiles.makeDirectory(in: parent, named: name)
        } catch  where error.errno == Syscall.EEXIST {
            guard FileSystem.isDirectory(directory) else { throw .failed(call: "mkdirat", path: directory, errno: error.errno) }
        } catch {
            throw CgroupError.from(error, hierarchy: hierarchy, path: directory)
        }
    }

    /// Enables `controllers` in `directory`'s cgroup.subtree_control where missing. If this
    /// process is in that cgroup (and it is not the hierarchy's root, which is exempt from the
    /// no-internal-processes rule), it first moves into the `daemon` leaf below it.
    private static func enable(
        _ controllers: [CgroupController], in directory: String, cgroup: String, own: inout String
    ) throws(CgroupError) {
        let enabled: String
        do {
            enabled = try CgroupFiles.read(directory, "cgroup.subtree_control")
        } catch {
            throw CgroupError.from(error, hierarchy: .unified, path: directory + "/cgroup.subtree_control")
        }
        let present = Set(enabled.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        let missing = controllers.filter { !present.contains($0.rawValue) }
        guard !missing.isEmpty else { return }
        if own == cgroup && cgroup != "/" {
            try makeIfMissing(directory + "/" + daemonDirectoryName, hierarchy: .unified)
            do {
                try CgroupFiles.write(directory + "/" + daemonDirectoryName, "cgroup.procs", "\(getpid())\n")
            } catch {
                throw CgroupError.from(error, hierarchy: .unified, path: directory + "/" + daemonDirectoryName + "/cgroup.procs")
            }
            own = cgroup + "/" + daemonDirectoryName
        }
        for controller in missing {
            do {
                try CgroupFiles.write(directory, "cgroup.subtree_control", "+\(controller.rawValue)\n")
            } catch {
                throw .controllerUnavailable(controller: controller, path: directory, errno: error.errno)
            }
        }
    }
}
