// BundleTree: the first pass over a bundle — every entry lstat'ed, nothing read — and every
// structural refusal, so hostile shapes are refused before a single byte of content is touched.
//
// The walk goes through open directory handles (openat/fstatat, never following a symlink), so
// nothing can lead it outside the bundle. Verification and copying both start here.

import CulvertSystem

/// Limits on a bundle's tree, enforced by `BundleTree.scan` for verification, signing and copying alike.
public enum BundleLimits {
    /// Largest single file, in bytes (apparent size: a sparse file counts in full).
    public static let maximumFileSize: Int64 = 64 << 20
    /// Largest sum of all file sizes, in bytes.
    public static let maximumTotalSize: Int64 = 256 << 20
    /// Most entries (files and directories, the root excluded).
    public static let maximumEntryCount = 1024
    /// Most path components in one relative path: `a/b/file` has 3.
    public static let maximumDepth = 8
}

/// The shape of a bundle at one instant: its directories and regular files, with their statuses.
struct BundleTree {
    struct File {
        var name: String
        /// Relative to the bundle root, e.g. `bin/provider`.
        var path: String
        var status: FileStatus
    }

    struct Directory {
        var name: String
        /// Relative to the bundle root; "" for the root itself.
        var path: String
        var status: FileStatus
        var files: [File] = []
        var directories: [Directory] = []

        /// How errors name this directory: the root is ".".
        var displayPath: String { path.isEmpty ? "." : path }
    }

    /// The path the bundle was opened by.
    let rootPath: String
    let root: Directory

    /// Every regular file, by relative path.
    let filesByPath: [String: File]
    /// Every directory but the root, by relative path.
    let directoriesByPath: [String: Directory]

    init(rootPath: String, root: Directory) {
        self.rootPath = rootPath
        self.root = root
        var files: [String: File] = [:]
        var directories: [String: Directory] = [:]
        func collect(_ directory: Directory) {
            for file in directory.files { files[file.path] = file }
            for child in directory.directories {
                directories[child.path] = child
                collect(child)
            }
        }
        collect(root)
        filesByPath = files
        directoriesByPath = directories
    }

    /// Walks the tree at `rootPath` without reading any file.
    ///
    /// Refused, first found first (entries in sorted order, depth first): the root missing
    /// (`bundleNotFound`) or not a directory, a symlink included (`notADirectory`); a name outside
    /// `BundlePath`'s set (`invalidFileName`); a path over `BundlePath.maximumPathLength`;
    /// more than `maximumEntryCount` entries; a path deeper than `maximumDepth`; symlinks
    /// (`symlinkEscapesBundle` when the target leaves the bundle, else `symlinkNotAllowed`);
    /// device nodes, FIFOs, sockets, unknown types; setuid, setgid or sticky bits on anything;
    /// regular files with more than one link, over `maximumFileSize`, or pushing the total over
    /// `maximumTotalSize`; an entry that changes under the walk (`fileChangedDuringRead`).
    static func scan(_ rootPath: String) throws(BundleError) -> BundleTree {
        let handle: DirectoryHandle
        do {
            handle = try DirectoryHandle.open(path: rootPath)
        } catch {
            switch error.errno {
            case Syscall.ENOENT: throw .bundleNotFound(path: rootPath)
            case Syscall.ENOTDIR, Syscall.ELOOP: throw .notADirectory(path: rootPath)
            default: throw .io(error)
            }
        }
        defer { handle.close() }
        let status = try system { () throws(SystemError) in try handle.status() }
        try checkPermissions(status, path: ".")
        var scanner = Scanner()
        let root = try scanner.scan(handle, directory: Directory(name: "", path: "", status: status), depth: 0)
        return BundleTree(rootPath: rootPath, root: root)
    }

    /// Counters carried through one scan.
    private struct Scanner {
        var entryCount = 0
        var totalSize: Int64 = 0

        mutating func scan(_ handle: DirectoryHandle, directory: Directory, depth: Int) throws(BundleError) -> Directory {
            var directory = directory
            let names = try system { () throws(SystemError) in try handle.entryNames() }
            for name in names {
                let path = directory.path.isEmpty ? name : directory.path + "/" + name
                guard BundlePath.isValidName(name[...]) else { throw .invalidFileName(path: path) }
                guard path.utf8.count <= BundlePath.maximumPathLength else {
                    throw .pathTooLong(path: path, limit: BundlePath.maximumPathLength)
                }
                entryCount += 1
                guard entryCount <= BundleLimits.maximumEntryCount else { throw .tooManyFiles(limit: BundleLimits.maximumEntryCount) }
                guard depth + 1 <= BundleLimits.maximumDepth else { throw .tooDeep(path: path, limit: BundleLimits.maximumDepth) }
                let status = try statusOfEntry(name, in: handle, path: path)
                switch status.kind {
                case .regular, .directory: break
                case .symbolicLink:
                    let target = try system { () throws(SystemError) in try handle.symbolicLinkTarget(named: name) }
                    if BundleTree.escapes(target: target, from: directory.path) { throw .symlinkEscapesBundle(path: path, target: target) }
                    throw .symlinkNotAllowed(path: path)
                case .characterDevice, .blockDevice: throw .deviceNodeNotAllowed(path: path)
                case .fifo: throw .fifoNotAllowed(path: path)
                case .socket: throw .socketNotAllowed(path: path)
                case .unknown: throw .unsupportedFileType(path: path)
                }
                try checkPermissions(status, path: path)
                if status.kind == .regular {
                    guard status.linkCount == 1 else { throw .hardLinkNotAllowed(path: path, linkCount: status.linkCount) }
                    guard status.size <= BundleLimits.maximumFileSize else {
                        throw .fileTooLarge(path: path, size: status.size, limit: BundleLimits.maximumFileSize)
                    }
                    totalSize += status.size
                    guard totalSize <= BundleLimits.maximumTotalSize else { throw .bundleTooLarge(limit: BundleLimits.maximumTotalSize) }
                    directory.files.append(File(name: name, path: path, status: status))
                } else {
                    let child = try BundleTree.openDirectory(name, in: handle, path: path, expected: status)
                    defer { child.close() }
                    let scanned = try scan(child, directory: Directory(name: name, path: path, status: status), depth: depth + 1)
                    directory.directories.append(scanned)
                }
            }
            return directory
        }

        private func statusOfEntry(_ name: String, in handle: DirectoryHandle, path: String) throws(BundleError) -> FileStatus {
            do {
                return try handle.status(of: name)
            } catch {
                if error.errno == Syscall.ENOENT { throw .fileChangedDuringRead(path: path) }
                throw .io(error)
            }
        }
    }

    /// Opens subdirectory `name` and checks it is still the inode `expected` describes.
    static func openDirectory(_ name: String, in handle: DirectoryHandle, path: String, expected: FileStatus) throws(BundleError)
        -> DirectoryHandle
    {
        let child: DirectoryHandle
        do {
            child = try handle.openDirectory(named: name)
        } catch {
            // Gone, or replaced by a symlink or a file, since it was lstat'ed.
            if [Syscall.ENOENT, Syscall.ELOOP, Syscall.ENOTDIR].contains(error.errno) { throw .fileChangedDuringRead(path: path) }
            throw .io(error)
        }
        let status: FileStatus
        do {
            status = try child.status()
        } catch {
            child.close()
            throw .io(error)
        }
        guard status.isSameFile(as: expected) else {
            child.close()
            throw .fileChangedDuringRead(path: path)
        }
        return child
    }

    /// Refuses setuid, setgid and sticky bits: a bundle has no use for them, and a copy must not
    /// carry them even by accident.
    static func checkPermissions(_ status: FileStatus, path: String) throws(BundleError) {
        if status.isSetUserID { throw .setuidNotAllowed(path: path) }
        if status.isSetGroupID { throw .setgidNotAllowed(path: path) }
        if status.isSticky { throw .stickyBitNotAllowed(path: path) }
    }

    /// True if a symlink in `directory` (relative to the root) pointing at `target` would resolve,
    /// lexically, outside the bundle. Only chooses which refusal to report: every symlink is refused.
    static func escapes(target: String, from directory: String) -> Bool {
        if target.hasPrefix("/") { return true }
        var stack = directory.split(separator: "/").map(String.init)
        for component in target.split(separator: "/") {
            switch component {
            case ".": continue
            case "..":
                if stack.isEmpty { return true }
                stack.removeLast()
            default: stack.append(String(component))
            }
        }
        return false
    }
}

/// Runs a system call wrapper, turning its error into `BundleError.io`.
func system<T>(_ body: () throws(SystemError) -> T) throws(BundleError) -> T {
    do {
        return try body()
    } catch {
        throw .io(error)
    }
}
