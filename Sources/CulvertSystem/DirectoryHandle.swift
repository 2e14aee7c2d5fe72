// DirectoryHandle: an open directory, and the *at() operations relative to it.
//
// Walking a tree that someone else controls (an extension bundle in /usr/lib, a .deb's payload)
// by path is racy: any component can be swapped for a symlink between a check and a use. Every
// operation here is relative to an open directory and never follows a symlink in its last
// component, so a walk that opens each level from the one above cannot be led outside the tree.

#if canImport(Glibc)
    import Glibc
#endif

/// A directory opened with `O_DIRECTORY | O_NOFOLLOW`. A value type like `Descriptor`: whoever
/// opened it closes it, once.
public struct DirectoryHandle: Sendable {
    public let descriptor: Descriptor

    /// Opens the directory at `path`; a symlink as the last component is refused (ELOOP or
    /// ENOTDIR), earlier components are resolved as usual. The corresponding C function is `open`.
    public static func open(path: String) throws(SystemError) -> DirectoryHandle {
        let fd = try Syscall.call("open", path: path) { Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        return DirectoryHandle(descriptor: Descriptor(rawValue: fd))
    }

    public func close() { descriptor.close() }

    /// The status of the directory itself. The corresponding C function is `fstat`.
    public func status() throws(SystemError) -> FileStatus { try descriptor.status() }

    /// The status of entry `name`, not following it if it is a symlink. The corresponding C
    /// function is `fstatat` with `AT_SYMLINK_NOFOLLOW`.
    public func status(of name: String) throws(SystemError) -> FileStatus {
        var info = stat()
        _ = try Syscall.call("fstatat", path: name) { fstatat(descriptor.rawValue, name, &info, AT_SYMLINK_NOFOLLOW) }
        return FileStatus(info)
    }

    /// The names in the directory, without `.` and `..`, sorted. Names that are not UTF-8 are
    /// decoded with replacement characters, so they never equal a valid name: callers that
    /// accept only restricted names refuse them. The corresponding C functions are `fdopendir`
    /// and `readdir`.
    public func entryNames() throws(SystemError) -> [String] {
        // fdopendir takes ownership of its descriptor; give it a duplicate so ours stays open.
        let duplicate = try Syscall.call("fcntl") { fcntl(descriptor.rawValue, F_DUPFD_CLOEXEC, 0) }
        guard let stream = fdopendir(duplicate) else {
            let code = Glibc.errno
            Glibc.close(duplicate)
            throw SystemError(call: "fdopendir", errno: code)
        }
        defer { closedir(stream) }
        rewinddir(stream)  // the duplicate shares the offset; start from the beginning every time
        var names: [String] = []
        while true {
            Glibc.errno = 0
            guard let entry = readdir(stream) else {
                let code = Glibc.errno
                if code != 0 { throw SystemError(call: "readdir", errno: code) }
                break
            }
            let name = String(decoding: direntName(entry), as: UTF8.self)
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Opens subdirectory `name`, refusing a symlink. The corresponding C function is `openat`.
    public func openDirectory(named name: String) throws(SystemError) -> DirectoryHandle {
        let fd = try Syscall.call("openat", path: name) {
            openat(descriptor.rawValue, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        return DirectoryHandle(descriptor: Descriptor(rawValue: fd))
    }

    /// Opens entry `name` for reading, refusing a symlink (ELOOP). `O_NONBLOCK` keeps a FIFO
    /// swapped in after a check from blocking the caller, and `O_NOCTTY` keeps a terminal from
    /// becoming ours; neither changes how a regular file reads. The corresponding C function is `openat`.
    public func openFileForReading(named name: String) throws(SystemError) -> Descriptor {
        let fd = try Syscall.call("openat", path: name) {
            openat(descriptor.rawValue, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        }
        return Descriptor(rawValue: fd)
    }

    /// Creates and opens a new file `name` for writing; an existing entry of any kind (even a
    /// dangling symlink) is EEXIST. The corresponding C function is `openat` with `O_CREAT | O_EXCL`.
    public func createFile(named name: String, permissions: UInt32) throws(SystemError) -> Descriptor {
        let fd = try Syscall.call("openat", path: name) {
            openat(descriptor.rawValue, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(permissions))
        }
        return Descriptor(rawValue: fd)
    }

    /// Creates subdirectory `name` (the umask applies). The corresponding C function is `mkdirat`.
    public func createDirectory(named name: String, permissions: UInt32) throws(SystemError) {
        _ = try Syscall.call("mkdirat", path: name) { mkdirat(descriptor.rawValue, name, mode_t(permissions)) }
    }

    /// The target of symlink `name`, without resolving it. The corresponding C function is `readlinkat`.
    public func symbolicLinkTarget(named name: String) throws(SystemError) -> String {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = try Syscall.withMutableBytes(&buffer) { raw throws(SystemError) in
            // baseAddress!: the buffer is PATH_MAX + 1 bytes, never empty.
            let target = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
            return try Syscall.call("readlinkat", path: name) { readlinkat(descriptor.rawValue, name, target, raw.count) }
        }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    /// Makes the directory's entries durable (a create, rename or unlink in it). The
    /// corresponding C function is `fsync`.
    public func synchronize() throws(SystemError) { try descriptor.synchronize() }
}

extension Syscall {
    /// A symlink where `O_NOFOLLOW` forbids one: what `DirectoryHandle`'s callers check for.
    public static let ELOOP = Glibc.ELOOP
}
