// FileSystem: the file operations Culvert's persistence needs, with their durability rules.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public enum FileSystem {
    /// Largest file `readFile` will load; state files are small, anything bigger is damage.
    public static let maximumReadSize = 16 << 20

    /// Writes `bytes` to `path` so that a crash at any instant leaves either the old or the new
    /// content, never a torn or empty file: temp file in the same directory, write, fsync,
    /// rename over `path`, fsync the directory.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: UInt32 = 0o644) throws(SystemError) {
        let directory = parentDirectory(of: path)
        let temporary = "\(path).tmp-\(getpid())"
        let fd = try Syscall.call("open", path: temporary) {
            open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode_t(mode))
        }
        let file = Descriptor(rawValue: fd)
        do {
            // fchmod: open's mode is filtered by the umask; secrets must be exactly 0600.
            _ = try Syscall.call("fchmod", path: temporary) { fchmod(fd, mode_t(mode)) }
            try file.writeAll(bytes)
            _ = try Syscall.call("fsync", path: temporary) { fsync(fd) }
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

    /// Reads a whole regular file (not following a final symlink), at most `maximumReadSize` bytes.
    public static func readFile(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try Syscall.call("open", path: path) { open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        defer { Glibc.close(fd) }
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

    /// Creates `path` and its parents with `mode` (existing directories are left as they are).
    public static func createDirectory(_ path: String, mode: UInt32 = 0o755) throws(SystemError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode_t(mode)) != 0 {
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
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
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

    static func parentDirectory(of path: String) -> String {
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
            throw SystemError(call: "removeItem", errno: (error as NSError).code == 4 ? ENOENT : EIO, path: path)
        }
    }

    /// True if `path` is a directory (lstat: a symlink to one is not).
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }
}
