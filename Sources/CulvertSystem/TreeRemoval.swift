// TreeRemoval: removes a directory tree that an untrusted user can change while it is removed
// (a session's rendezvous directory, owned by the provider's uid), as root, without ever
// following a symbolic link, leaving the tree, or crossing a mount point.
//
// Hand-written because no library does it safely: Foundation's removeItem and nftw(3) walk by
// path, so a directory swapped for a symlink between a check and a use leads them outside the
// tree (issue 11: culvertd deleted root's files that way). Here every step is relative to an open
// directory: an entry is first unlinked as a non-directory (a symlink goes as a link, never
// followed); only if the kernel says EISDIR is it opened — with openat2 refusing links and mount
// points (RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV) and an fstat confirming the device — emptied
// through that descriptor, and removed with AT_REMOVEDIR. A name that changes type between two
// steps is simply tried again; every try counts against an entry budget and the depth is
// bounded, so whoever owns the tree cannot make root spin or run out of descriptors.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

public enum TreeRemoval {
    /// Deepest nesting below the top directory that is removed (one descriptor is open per level).
    public static let maximumDepth = 32
    /// Most entries one removal handles, counting retries of names that changed under it.
    public static let maximumEntries = 100_000
    /// Names read from a directory at a time before they are removed and the directory re-read.
    static let readBatch = 512

    /// How far one removal may go.
    public struct Limits: Sendable, Equatable {
        public var maximumDepth: Int
        public var maximumEntries: Int

        public init(maximumDepth: Int = TreeRemoval.maximumDepth, maximumEntries: Int = TreeRemoval.maximumEntries) {
            self.maximumDepth = maximumDepth
            self.maximumEntries = maximumEntries
        }

        public static let standard = Limits()
    }

    /// `bytes` as text for messages: printable UTF-8 as is, anything else (control characters,
    /// invalid sequences, backslash) as `\xNN`.
    public static func printable(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        guard Array(text.utf8) == bytes else { return bytes.map(escapedByte).joined() }
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f || scalar == "\\" || (0x80..<0xa0).contains(scalar.value) {
                result += String(scalar).utf8.map(escapedByte).joined()
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func escapedByte(_ byte: UInt8) -> String {
        (0x20..<0x7f).contains(byte) && byte != UInt8(ascii: "\\")
            ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16).leftPadded(to: 2)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

extension FileSystem {
    /// Removes entry `name` of the directory at `parent` and, if it is a directory, everything
    /// below it, as `DirectoryHandle.removeTree(named:limits:)` does. `parent` itself must be a
    /// directory only root can change (its last component is not followed); a missing `parent`
    /// or `name` is not an error.
    public static func removeTreeBeneath(
        parent: String, name: String, limits: TreeRemoval.Limits = .standard
    ) throws(TreeRemovalError) {
        let directory: DirectoryHandle
        do { directory = try DirectoryHandle.open(path: parent) } catch {
            if error.errno == Syscall.ENOENT { return }
            throw .system(error)
        }
        defer { directory.close() }
        try directory.removeTree(named: name, limits: limits)
    }
}

extension DirectoryHandle {
    /// Removes entry `name` (one path component) and, if it is a directory, everything below it,
    /// never following a symbolic link (a link is removed as a link), never leaving the tree and
    /// never entering a mount point (not even a bind mount of the same file system). Whoever
    /// owns the tree may change it throughout; at worst the removal stops with
    /// `tooManyEntries`. A missing `name` is not an error.
    public func removeTree(named name: String, limits: TreeRemoval.Limits = .standard) throws(TreeRemovalError) {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, name != ".", name != "..", !bytes.contains(UInt8(ascii: "/")), !bytes.contains(0) else {
            throw .invalidName(name)
        }
        let device: UInt64
        do { device = try status().device } catch { throw .system(error) }
        var walk = TreeWalk(limits: limits, device: device)
        try walk.remove(bytes, in: self, path: TreeRemoval.printable(bytes), depth: 0)
    }
}

/// One removal's state: the device every directory must be on, and the entry budget left.
private struct TreeWalk {
    let limits: TreeRemoval.Limits
    let device: UInt64
    var entriesMet = 0

    /// Removes entry `name` of `parent`, whatever it is (or becomes while this runs).
    mutating func remove(_ name: [UInt8], in parent: DirectoryHandle, path: String, depth: Int) throws(TreeRemovalError) {
        while true {
            entriesMet += 1
            guard entriesMet <= limits.maximumEntries else { throw .tooManyEntries(path: path, limit: limits.maximumEntries) }
            // A non-directory (a symlink included) goes at once, as itself.
            switch Self.unlink(name, in: parent, flags: 0, path: path) {
            case .success, .failure(.missing): return
            case .failure(.isDirectory): break
            case .failure(.notEmpty), .failure(.notDirectory): continue  // not answers unlink(2) gives; try again
            case .failure(.other(let error)): throw .system(error)
            }
            // A directory: open it without following anything, empty it through the descriptor.
            let child: DirectoryHandle
            do {
                let fd = try name.withCString { (cName) throws(SystemError) in
                    try Syscall.call("openat2", path: path) {
                        culvert_open_beneath(parent.descriptor.rawValue, cName, O_RDONLY | O_DIRECTORY)
                    }
                }
                child = DirectoryHandle(descriptor: Descriptor(rawValue: fd))
            } catch {
                switch error.errno {
                case ENOENT: return
                case ELOOP, ENOTDIR: continue  // swapped for a link or a file since: unlink that as itself
                case EXDEV: throw .crossesMountPoint(path: path)
                default: throw .system(error)
                }
            }
            defer { child.close() }
            let status: FileStatus
            do { status = try child.status() } catch { throw .system(error) }
            guard status.kind == .directory, status.device == device else { throw .crossesMountPoint(path: path) }
            guard depth < limits.maximumDepth else { throw .tooDeep(path: path, limit: limits.maximumDepth) }
            try empty(child, path: path, depth: depth + 1)
            switch Self.unlink(name, in: parent, flags: AT_REMOVEDIR, path: path) {
            case .success, .failure(.missing): return
            // Refilled after it was emptied, or swapped for another directory or a link: again.
            case .failure(.notEmpty), .failure(.notDirectory), .failure(.isDirectory): continue
            case .failure(.other(let error)): throw .system(error)
            }
        }
    }

    /// Removes everything in `directory`, re-reading it until a read finds nothing.
    private mutating func empty(_ directory: DirectoryHandle, path: String, depth: Int) throws(TreeRemovalError) {
        while true {
            let names: [[UInt8]]
            do { names = try Self.readNames(of: directory, maximumCount: TreeRemoval.readBatch) } catch {
                throw .system(SystemError(call: error.call, errno: error.errno, path: path))
            }
            if names.isEmpty { return }
            for name in names {
                try remove(name, in: directory, path: path + "/" + TreeRemoval.printable(name), depth: depth)
            }
        }
    }

    private enum UnlinkProblem: Error {
        case missing, isDirectory, notDirectory, notEmpty
        case other(SystemError)
    }

    /// unlinkat; the errnos the walk reacts to as cases, the rest as they are.
    private static func unlink(_ name: [UInt8], in parent: DirectoryHandle, flags: Int32, path: String) -> Result<
        Void, UnlinkProblem
    > {
        do {
            _ = try name.withCString { (cName) throws(SystemError) in
                try Syscall.call("unlinkat", path: path) { unlinkat(parent.descriptor.rawValue, cName, flags) }
            }
            return .success(())
        } catch {
            switch error.errno {
            case ENOENT: return .failure(.missing)
            case EISDIR: return .failure(.isDirectory)
            case ENOTDIR: return .failure(.notDirectory)
            case ENOTEMPTY, EEXIST: return .failure(.notEmpty)
            default: return .failure(.other(error))
            }
        }
    }

    /// Up to `maximumCount` names of `directory` from its start, as raw bytes (a name need not
    /// be UTF-8, and it must be passed back to the kernel exactly). The corresponding C
    /// functions are `fdopendir` and `readdir`.
    private static func readNames(of directory: DirectoryHandle, maximumCount: Int) throws(SystemError) -> [[UInt8]] {
        // fdopendir takes ownership of its descriptor; give it a duplicate so ours stays open.
        let duplicate = try Syscall.call("fcntl") { fcntl(directory.descriptor.rawValue, F_DUPFD_CLOEXEC, 0) }
        guard let stream = fdopendir(duplicate) else {
            let code = Glibc.errno
            Glibc.close(duplicate)
            throw SystemError(call: "fdopendir", errno: code)
        }
        defer { closedir(stream) }
        rewinddir(stream)  // the duplicate shares the offset; start from the beginning every time
        var names: [[UInt8]] = []
        while names.count < maximumCount {
            Glibc.errno = 0
            guard let entry = readdir(stream) else {
                let code = Glibc.errno
                if code != 0 { throw SystemError(call: "readdir", errno: code) }
                break
            }
            let name = direntName(entry)
            if name != [UInt8(ascii: ".")] && name != [UInt8(ascii: "."), UInt8(ascii: ".")] { names.append(name) }
        }
        return names
    }
}

/// The name in a `readdir` entry, read in place up to its NUL. Copying `d_name` whole (256
/// bytes) can read past the end of the last entry in glibc's buffer: a record is only as long as
/// its name (`d_reclen`).
func direntName(_ entry: UnsafeMutablePointer<dirent>) -> [UInt8] {
    // offset(of:)!: d_name is a stored property of dirent.
    let start = UnsafeRawPointer(entry) + MemoryLayout<dirent>.offset(of: \dirent.d_name)!
    let pointer = start.assumingMemoryBound(to: UInt8.self)
    return Array(UnsafeBufferPointer(start: pointer, count: strlen(start.assumingMemoryBound(to: CChar.self))))
}

extension Array where Element == UInt8 {
    /// Calls `body` with the bytes as a NUL-terminated C string.
    fileprivate func withCString<R, E: Error>(_ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
        let terminated = self + [0]
        let result: Result<R, E> = terminated.withUnsafeBufferPointer { buffer in
            // baseAddress!: the buffer holds at least the terminating NUL.
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { pointer in
                do throws(E) { return .success(try body(pointer)) } catch { return .failure(error) }
            }
        }
        return try result.get()
    }
}
