// SessionCgroup: one session's cgroup, named by the session's id, in every hierarchy the layout
// uses (cgroup2 for grouping and kill, v1 pids/memory where cgroup2 lacks them): made with its
// limits, handed to the spawn as descriptors (the cgroup2 directory for clone3's
// CLONE_INTO_CGROUP, the v1 cgroup.procs files the child writes itself into), listed, measured and
// removed. Killing and waiting are in SessionCgroup+Kill.swift. The directories are root's: a
// provider can neither create entries in them nor move itself out.

/// Limits for one session's cgroup; nil: unlimited.
public struct CgroupLimits: Sendable, Hashable {
    /// Most tasks (processes and threads) at once: pids.max.
    public var tasksMax: Int?
    /// Most bytes of memory charged at once: memory.max / memory.limit_in_bytes (no swap beyond it).
    public var memoryMax: Int?

    public init(tasksMax: Int? = nil, memoryMax: Int? = nil) {
        self.tasksMax = tasksMax
        self.memoryMax = memoryMax
    }
}

/// What the spawn needs to start a process inside the cgroup. The caller closes both.
public struct CgroupPlacement: Sendable {
    /// The cgroup2 directory (O_RDONLY|O_DIRECTORY), for clone3's CLONE_INTO_CGROUP; nil without cgroup2.
    public let cgroupDirectory: Descriptor?
    /// Each v1 hierarchy's `cgroup.procs` (O_WRONLY): the child writes "0" (itself) into each
    /// before dropping privileges.
    public let attachFiles: [Descriptor]

    /// Closes every descriptor.
    public func close() {
        cgroupDirectory?.close()
        attachFiles.forEach { $0.close() }
    }
}

/// What a session's cgroup holds now.
public struct CgroupUsage: Sendable, Hashable {
    /// Tasks (pids.current; without a pids controller, the processes listed).
    public let tasks: Int
    /// Bytes of memory charged (memory.current / memory.usage_in_bytes); nil without a memory controller.
    public let memoryBytes: Int?
}

/// One session's cgroup.
public struct SessionCgroup: Sendable, Hashable, CustomStringConvertible {
    /// Longest session name: it becomes a directory name.
    public static let maximumNameLength = 64

    public let name: String
    public let root: CgroupSessionsRoot
    /// The session's directory in each hierarchy used.
    public let directories: [CgroupHierarchyKind: String]
    /// The session's cgroup path in each hierarchy used (as /proc/PID/cgroup shows it).
    public let cgroupPaths: [CgroupHierarchyKind: String]

    /// The session cgroup `name` under `root` (nothing is made yet).
    public init(name: String, in root: CgroupSessionsRoot) throws(CgroupError) {
        guard Self.isValidName(name) else { throw .invalidName(name) }
        self.name = name
        self.root = root
        self.directories = root.directories.mapValues { $0 + "/" + name }
        self.cgroupPaths = root.cgroupPaths.mapValues { ($0 == "/" ? "" : $0) + "/" + name }
    }

    /// 1…`maximumNameLength` of [A-Za-z0-9_-].
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maximumNameLength
            && name.utf8.allSatisfy { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            }
    }

    /// The hierarchies used, cgroup2 first.
    public var hierarchies: [CgroupHierarchyKind] { root.hierarchies }

    public var description: String { cgroupPaths[.unified] ?? hierarchies.first.flatMap { cgroupPaths[$0] } ?? name }

    /// Makes the directory in every hierarchy and writes `limits` (an unset limit is written as
    /// unlimited, so a reused cgroup gets exactly these). An existing directory is
    /// `.alreadyExists` unless `reuseExisting` (re-adoption). On failure, directories made by this
    /// call are removed again. Returns the limits that hold (those the layout can enforce).
    @discardableResult
    public func create(limits: CgroupLimits, reuseExisting: Bool = false) throws(CgroupError) -> CgroupLimits {
        for value in [limits.tasksMax, limits.memoryMax] {
            if let value, value < 1 { throw .failed(call: "write", path: description, errno: Syscall.EINVAL) }
        }
        var made: [CgroupHierarchyKind] = []
        do throws(CgroupError) {
            for kind in hierarchies {
                guard let parent = root.directories[kind] else { continue }
                do {
                    try CgroupFiles.makeDirectory(in: parent, named: name)
                    made.append(kind)
                } catch  where error.errno == Syscall.EEXIST && reuseExisting {
                    continue
                } catch  where error.errno == Syscall.EEXIST {
                    throw .alreadyExists(hierarchy: kind, path: parent + "/" + name)
                } catch {
                    throw CgroupError.from(error, hierarchy: kind, path: parent + "/" + name)
                }
            }
            return try writeLimits(limits)
        } catch {
            for kind in made.reversed() {
                // try?: undoing a failed create; the error being thrown is the one that matters.
                if let parent = root.directories[kind] { try? CgroupFiles.removeDirectory(in: parent, named: name) }
            }
            throw error
        }
    }

    private func writeLimits(_ limits: CgroupLimits) throws(CgroupError) -> CgroupLimits {
        var applied = CgroupLimits()
        let tasks = limits.tasksMax.map(String.init) ?? "max"
        switch root.layout.hierarchy(for: .pids) {
        case .some(let kind):
            try write(kind, "pids.max", tasks)
            applied.tasksMax = limits.tasksMax
        case .none: break
        }
        switch root.layout.hierarchy(for: .memory) {
        case .some(.unified):
            try write(.unified, "memory.max", limits.memoryMax.map(String.init) ?? "max")
            if has(.unified, "memory.swap.max") { try write(.unified, "memory.swap.max", limits.memoryMax == nil ? "max" : "0") }
            applied.memoryMax = limits.memoryMax
        case .some(let kind):
            // memsw must stay ≥ the limit at every step: lift it, set the limit, then match it.
            let value = limits.memoryMax.map(String.init) ?? "-1"
            let swap = has(kind, "memory.memsw.limit_in_bytes")
            if swap { try write(kind, "memory.memsw.limit_in_bytes", "-1") }
            try write(kind, "memory.limit_in_bytes", value)
            if swap { try write(kind, "memory.memsw.limit_in_bytes", value) }
            applied.memoryMax = limits.memoryMax
        case .none: break
        }
        return applied
    }

    /// Descriptors for the spawn: the cgroup2 directory and the v1 cgroup.procs files. The caller
    /// closes them (`CgroupPlacement.close`).
    public func placement() throws(CgroupError) -> CgroupPlacement {
        var directory: Descriptor?
        var files: [Descriptor] = []
        do throws(CgroupError) {
            for kind in hierarchies {
                guard let path = directories[kind] else { continue }
                do {
                    let handle = try DirectoryHandle.open(path: path)
                    if kind == .unified {
                        directory = handle.descriptor
                    } else {
                        defer { handle.close() }
                        files.append(try CgroupFiles.openForWriting(handle, "cgroup.procs", path: path + "/cgroup.procs"))
                    }
                } catch {
                    throw CgroupError.from(error, hierarchy: kind, path: path)
                }
            }
        } catch {
            CgroupPlacement(cgroupDirectory: directory, attachFiles: files).close()
            throw error
        }
        return CgroupPlacement(cgroupDirectory: directory, attachFiles: files)
    }

    /// The processes in the cgroup, in any hierarchy, sorted. A hierarchy whose directory is gone counts as empty.
    public func processIDs() throws(CgroupError) -> [Int32] {
        var all = Set<Int32>()
        for kind in hierarchies {
            guard let path = directories[kind] else { continue }
            do {
                all.formUnion(try CgroupFiles.processIDs(path))
            } catch  where error.errno == Syscall.ENOENT {
                continue
            } catch {
                throw CgroupError.from(error, hierarchy: kind, path: path)
            }
        }
        return all.sorted()
    }

    /// Whether any process is in the cgroup: cgroup2's `cgroup.events` says `populated 1`, or a v1
    /// `cgroup.procs` lists one.
    public func isPopulated() throws(CgroupError) -> Bool {
        if let path = directories[.unified], FileSystem.exists(path) {
            if try read(.unified, "cgroup.events").contains("populated 1") { return true }
        }
        for kind in hierarchies where kind != .unified {
            guard let path = directories[kind] else { continue }
            do {
                if !(try CgroupFiles.processIDs(path)).isEmpty { return true }
            } catch  where error.errno == Syscall.ENOENT {
                continue
            } catch {
                throw CgroupError.from(error, hierarchy: kind, path: path)
            }
        }
        return false
    }

    /// Tasks and memory charged now.
    public func usage() throws(CgroupError) -> CgroupUsage {
        let tasks: Int
        if let kind = root.layout.hierarchy(for: .pids) {
            tasks = Int(try read(kind, "pids.current").filter { !$0.isWhitespace }) ?? 0
        } else {
            tasks = try processIDs().count
        }
        var memory: Int?
        switch root.layout.hierarchy(for: .memory) {
        case .some(.unified): memory = Int(try read(.unified, "memory.current").filter { !$0.isWhitespace })
        case .some(let kind): memory = Int(try read(kind, "memory.usage_in_bytes").filter { !$0.isWhitespace })
        case .none: memory = nil
        }
        return CgroupUsage(tasks: tasks, memoryBytes: memory)
    }

    /// Removes the directory in every hierarchy (cgroup2 first); one already gone is skipped.
    /// Processes still inside make it `.populated` (EBUSY): `kill` and `waitUntilEmpty` first.
    public func remove() throws(CgroupError) {
        for kind in hierarchies {
            guard let parent = root.directories[kind] else { continue }
            do {
                try CgroupFiles.removeDirectory(in: parent, named: name)
            } catch  where error.errno == Syscall.ENOENT {
                continue
            } catch  where error.errno == CgroupFiles.EBUSY {
                throw .populated(hierarchy: kind, path: parent + "/" + name)
            } catch {
                throw CgroupError.from(error, hierarchy: kind, path: parent + "/" + name)
            }
        }
    }

    /// Whether the directory exists in any hierarchy.
    public var exists: Bool { directories.values.contains { FileSystem.isDirectory($0) } }

    /// The session cgroups under `root` in any hierarchy (a previous culvertd's, for re-adoption),
    /// sorted by name. Entries whose names are not valid session names are not listed.
    public static func existing(in root: CgroupSessionsRoot) throws(CgroupError) -> [SessionCgroup] {
        var names = Set<String>()
        for kind in root.hierarchies {
            guard let path = root.directories[kind] else { continue }
            do {
                names.formUnion(try CgroupFiles.subdirectories(path).filter(isValidName))
            } catch  where error.errno == Syscall.ENOENT {
                continue
            } catch {
                throw CgroupError.from(error, hierarchy: kind, path: path)
            }
        }
        var result: [SessionCgroup] = []
        for name in names.sorted() { result.append(try SessionCgroup(name: name, in: root)) }
        return result
    }

    func read(_ kind: CgroupHierarchyKind, _ file: String) throws(CgroupError) -> String {
        // directories has every kind in hierarchies; "" makes a missing one fail as ENOENT.
        let path = directories[kind] ?? ""
        do {
            return try CgroupFiles.read(path, file)
        } catch {
            throw CgroupError.from(error, hierarchy: kind, path: path + "/" + file)
        }
    }

    func write(_ kind: CgroupHierarchyKind, _ file: String, _ value: String) throws(CgroupError) {
        let path = directories[kind] ?? ""  // as in read
        do {
            try CgroupFiles.write(path, file, value + "\n")
        } catch {
            throw CgroupError.from(error, hierarchy: kind, path: path + "/" + file)
        }
    }

    func has(_ kind: CgroupHierarchyKind, _ file: String) -> Bool {
        directories[kind].map { CgroupFiles.exists($0, file) } ?? false
    }
}
