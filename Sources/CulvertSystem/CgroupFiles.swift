// CgroupFiles: reading and writing the small control files of a cgroup directory. Hand-written:
// every open goes through an O_DIRECTORY|O_NOFOLLOW handle on the cgroup directory and an
// O_NOFOLLOW openat of the file, so no symlink anywhere at the last step is followed (cgroupfs has
// none, and a provider can create nothing in a root-owned cgroup — this is the belt to that brace).

#if canImport(Glibc)
    import Glibc
#endif

enum CgroupFiles {
    static let EBUSY = Glibc.EBUSY
    static let EROFS = Glibc.EROFS
    static let ESRCH = Glibc.ESRCH
    /// Most bytes read from one control file (a cgroup.procs of 100,000 pids is under 1 MiB).
    static let maximumFileBytes = 1 << 20
    /// Bytes read per read(2) from a control file.
    static let readChunkBytes = 16 * 1024
    /// Permissions of a cgroup directory Culvert makes: root's alone to change.
    static let directoryPermissions: UInt32 = 0o755

    /// The text of control file `name` in cgroup directory `directory`.
    static func read(_ directory: String, _ name: String) throws(SystemError) -> String {
        let handle = try DirectoryHandle.open(path: directory)
        defer { handle.close() }
        let file = try handle.openFileForReading(named: name)
        defer { file.close() }
        return try readAll(file, path: directory + "/" + name)
    }

    /// Reads `file` from its current offset to end of file, bounded by `maximumFileBytes`.
    static func readAll(_ file: Descriptor, path: String) throws(SystemError) -> String {
        var bytes: [UInt8] = []
        while true {
            let n = try file.read(appendingTo: &bytes, maximum: readChunkBytes)
            if n == 0 { break }
            if bytes.count > maximumFileBytes { throw SystemError(call: "read", errno: EFBIG, path: path) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `text` to control file `name` in one write(2), as cgroupfs wants a value.
    static func write(_ directory: String, _ name: String, _ text: String) throws(SystemError) {
        let handle = try DirectoryHandle.open(path: directory)
        defer { handle.close() }
        let file = try openForWriting(handle, name, path: directory + "/" + name)
        defer { file.close() }
        try file.writeAll(Array(text.utf8))
    }

    /// Opens existing control file `name` for writing, refusing a symlink. The corresponding C
    /// function is `openat`.
    static func openForWriting(_ handle: DirectoryHandle, _ name: String, path: String) throws(SystemError) -> Descriptor {
        let fd = try Syscall.call("openat", path: path) {
            openat(handle.descriptor.rawValue, name, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC)
        }
        return Descriptor(rawValue: fd)
    }

    /// Whether `directory` has an entry `name` (not following a symlink).
    static func exists(_ directory: String, _ name: String) -> Bool {
        // try?: a directory we cannot open has no such file for our purposes.
        guard let handle = try? DirectoryHandle.open(path: directory) else { return false }
        defer { handle.close() }
        return (try? handle.status(of: name)) != nil  // try?: absent (ENOENT) is the answer "no"
    }

    /// The subdirectories of `directory` (child cgroups), sorted.
    static func subdirectories(_ directory: String) throws(SystemError) -> [String] {
        let handle = try DirectoryHandle.open(path: directory)
        defer { handle.close() }
        var directories: [String] = []
        for name in try handle.entryNames() where try handle.status(of: name).kind == .directory {
            directories.append(name)
        }
        return directories
    }

    /// Makes child cgroup `name` in `parent`. EEXIST is thrown for an existing entry. The
    /// corresponding C function is `mkdirat`.
    static func makeDirectory(in parent: String, named name: String) throws(SystemError) {
        let handle = try DirectoryHandle.open(path: parent)
        defer { handle.close() }
        try handle.createDirectory(named: name, permissions: directoryPermissions)
    }

    /// Removes child cgroup `name` of `parent`. The corresponding C function is `unlinkat` with
    /// `AT_REMOVEDIR` (rmdir of a cgroup; its control files go with it).
    static func removeDirectory(in parent: String, named name: String) throws(SystemError) {
        let handle = try DirectoryHandle.open(path: parent)
        defer { handle.close() }
        _ = try Syscall.call("unlinkat", path: parent + "/" + name) {
            unlinkat(handle.descriptor.rawValue, name, AT_REMOVEDIR)
        }
    }

    /// The pids listed in `cgroup.procs` of `directory`.
    static func processIDs(_ directory: String) throws(SystemError) -> [Int32] {
        parseProcessIDs(try read(directory, "cgroup.procs"))
    }

    static func parseProcessIDs(_ text: String) -> [Int32] {
        text.split(whereSeparator: \.isNewline).compactMap { Int32(String($0.filter { !$0.isWhitespace })) }
    }

    /// The value of `key` in a flat keyed file such as cgroup.events ("populated 1").
    static func keyedValue(_ text: String, _ key: String) -> String? {
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ", maxSplits: 1)
            if fields.count == 2 && fields[0] == key { return String(fields[1]) }
        }
        return nil
    }
}
