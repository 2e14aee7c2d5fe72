// FileSystem: the file operations Culvert's persistence needs, with their durability rules.

import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

public enum FileSystem {
    /// Largest file `readFile` will load; state files are small, anything bigger is damage.
    public static let maximumReadSize = 16 << 20

    /// Names of the temporary files `writeAtomically` creates start with this. It begins with a
    /// dot and holds no name a state file can have: profile names may not start with `.`, and
    /// every other state file has a fixed name, so a start-up cleanup that removes these removes
    /// only what a `writeAtomically` left, never an acknowledged file.
    public static let temporaryPrefix = ".culvert-tmp-"

    /// True for a name `writeAtomically` gives its temporary files.
    public static func isTemporaryName(_ name: String) -> Bool { name.hasPrefix(temporaryPrefix) }

    /// Writes `bytes` to `path` so that a crash at any instant leaves either the old or the new
    /// content, never a torn or empty file: temp file in the same directory (named with
    /// `temporaryPrefix`), write, fsync, rename over `path`, fsync the directory. Every error
    /// names a path (`path` itself for the temporary file's steps), so ENOSPC or EIO on any step
    /// says which file could not be made durable.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: UInt32 = 0o644) throws(SystemError) {
        let directory = parentDirectory(of: path)
        let temporary = directory + "/" + temporaryPrefix + "\(getpid())-" + WallClock.randomIdentifier()
        let fd = try Syscall.call("open", path: path) {
            open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_t(mode))
        }
        let file = Descriptor(rawValue: fd)
        do throws(SystemError) {
            // fchmod: open's mode is filtered by the umask; secrets must be exactly 0600.
            _ = try Syscall.call("fchmod", path: path) { fchmod(fd, mode_t(mode)) }
            do throws(SystemError) {
                try file.writeAll(bytes)
            } catch {
                throw SystemError(call: error.call, errno: error.errno, path: path)
            }
            _ = try Syscall.call("fsync", path: path) { fsync(fd) }
            file.close()
        } catch {
            file.close()
            _ = unlink(temporary)  // best effort: the error being thrown is the one that matters
            throw error
        }
        do {
            _ = try Syscall.call("rename", path: path) { Glibc.rename(temporary, path) }
        } catch {
            _ = unlink(temporary)  // best effort, as above
            throw error
        }
        try syncDirectory(directory)
    }

    /// fsync on a directory, making a rename or unlink in it durable.
    public static func syncDirectory(_ path: String) throws(SystemError) {
        let fd = try Syscall.call("open", path: path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { Glibc.close(fd) }
        _ = try Syscall.call("fsync", path: path) { fsync(fd) }
    }

    /// Reads a whole regular file, at most `maximumReadSize` bytes. A symlink as the last
    /// component is refused (ELOOP, never followed); `O_NONBLOCK` keeps a FIFO from blocking the
    /// caller and `O_NOCTTY` a terminal from becoming ours; anything that is not a regular file
    /// once open (fstat) is refused before a byte is read: EISDIR for a directory, EINVAL for a
    /// FIFO, socket or device.
    public static func readFile(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try Syscall.call("open", path: path) { open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY) }
        defer { Glibc.close(fd) }
        switch try Descriptor(rawValue: fd).status().kind {
        case .regular: break
        case .directory: throw SystemError(call: "fstat", errno: EISDIR, path: path)
        default: throw SystemError(call: "fstat", errno: EINVAL, path: path)
        }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try Syscall.withMutableBytes(&chunk) { raw throws(SystemError) in
                try Syscall.call("read", path: path) { Glibc.read(fd, raw.baseAddress, raw.count) }
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
            if result.count > maximumReadSize { throw SystemError(call: "read", errno: EFBIG, path: path) }
        }
        return result
    }

    /// Creates `path` with `mode` and its missing parents with `parentMode` (existing directories
    /// are left as they are; the umask applies).
    public static func createDirectory(_ path: String, mode: UInt32 = 0o755, parentMode: UInt32 = 0o755) throws(SystemError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        let components = path.split(separator: "/")
        for (index, component) in components.enumerated() {
            prefix += "/" + component
            // Only the leaf gets `mode`: a private leaf must not make its missing parents private
            // too (a 0700 /var/lib/culvert, made by a spooled install, kept providers from their
            // store copies).
            if mkdir(prefix, mode_t(index == components.count - 1 ? mode : parentMode)) != 0 {
                let code = Glibc.errno
                guard code == EEXIST else { throw SystemError(call: "mkdir", errno: code, path: prefix) }
            }
        }
    }

    /// Sets the owner of `path` itself (a symbolic link is not followed). The corresponding C
    /// function is `lchown`.
    public static func setOwner(_ path: String, userID: UInt32, groupID: UInt32) throws(SystemError) {
        _ = try Syscall.call("lchown", path: path) { lchown(path, userID, groupID) }
    }

    /// Sets permission bits. The corresponding C function is `chmod`.
    public static func setMode(_ path: String, _ mode: UInt32) throws(SystemError) {
        _ = try Syscall.call("chmod", path: path) { chmod(path, mode_t(mode)) }
    }

    /// Names in a directory, without `.` and `..`, sorted.
    public static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else { throw SystemError(call: "opendir", errno: Glibc.errno, path: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = String(decoding: direntName(entry), as: UTF8.self)
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public static func rename(_ from: String, to: String) throws(SystemError) {
        _ = try Syscall.call("rename", path: from) { Glibc.rename(from, to) }
    }

    /// Removes a file; a missing file is not an error.
    public static func removeFile(_ path: String) throws(SystemError) {
        if unlink(path) != 0 {
            let code = Glibc.errno
            guard code == ENOENT else { throw SystemError(call: "unlink", errno: code, path: path) }
        }
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// The permission bits of `path` (lstat), or nil if it does not exist.
    public static func mode(of path: String) -> UInt32? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return UInt32(info.st_mode) & 0o7777
    }

    /// The directory part of `path` ("/" for a file in the root, "." for a bare name).
    public static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }
}

extension FileSystem {
    /// Removes `path` and everything below it, without following symlinks; a missing path is
    /// not an error. Uses Foundation's recursive removal (unlinkat-based), kept behind this one
    /// call so the rest of Culvert still reaches the file system only through CulvertSystem.
    public static func removeTree(_ path: String) throws(SystemError) {
        guard exists(path) else { return }
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            throw SystemError(call: "removeItem", errno: (error as? CocoaError)?.code == .fileNoSuchFile ? ENOENT : EIO, path: path)
        }
    }

    /// True if `path` is a directory (lstat: a symlink to one is not).
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }
}
