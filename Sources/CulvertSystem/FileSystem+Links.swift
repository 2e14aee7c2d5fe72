// FileSystem+Links: path-level status and symbolic links, for files Culvert replaces and must
// later put back exactly as they were (resolv.conf may be a link to systemd-resolved's stub).

#if canImport(Glibc)
    import Glibc
#endif

extension FileSystem {
    /// The status of `path` itself (a final symlink is not followed), or nil if nothing is there.
    /// The corresponding C function is `lstat`.
    public static func status(of path: String) throws(SystemError) -> FileStatus? {
        var info = stat()
        do {
            _ = try Syscall.call("lstat", path: path) { lstat(path, &info) }
        } catch  where error.errno == ENOENT {
            return nil
        }
        return FileStatus(info)
    }

    /// The target of the symlink at `path`, without resolving it. The corresponding C function is `readlink`.
    public static func symbolicLinkTarget(_ path: String) throws(SystemError) -> String {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = try Syscall.withMutableBytes(&buffer) { raw throws(SystemError) in
            // baseAddress!: the buffer is PATH_MAX + 1 bytes, never empty.
            let target = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
            return try Syscall.call("readlink", path: path) { readlink(path, target, raw.count) }
        }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    /// Makes `path` a symlink to `target`, replacing whatever is there in one step (a link created
    /// beside it, renamed over it, the directory fsynced). The corresponding C functions are
    /// `symlink` and `rename`.
    public static func replaceWithSymbolicLink(at path: String, target: String) throws(SystemError) {
        let temporary = parentDirectory(of: path) + "/" + temporaryPrefix + "\(getpid())-" + WallClock.randomIdentifier()
        _ = try Syscall.call("symlink", path: temporary) { symlink(target, temporary) }
        do {
            _ = try Syscall.call("rename", path: path) { Glibc.rename(temporary, path) }
        } catch {
            _ = unlink(temporary)  // best effort: the rename error is the one that matters
            throw error
        }
        try syncDirectory(parentDirectory(of: path))
    }

    /// Removes a file and makes the removal durable; a missing file is not an error.
    public static func removeFileDurably(_ path: String) throws(SystemError) {
        try removeFile(path)
        try syncDirectory(parentDirectory(of: path))
    }
}
