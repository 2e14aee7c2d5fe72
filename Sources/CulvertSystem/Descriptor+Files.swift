// Descriptor+Files: operations on descriptors of files and directories (status, durability,
// ownership), for code that must act on the file it opened rather than on a path that may change.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

extension Descriptor {
    /// The status of the open file. The corresponding C function is `fstat`.
    public func status() throws(SystemError) -> FileStatus {
        var info = stat()
        _ = try Syscall.call("fstat") { fstat(rawValue, &info) }
        return FileStatus(info)
    }

    /// Flushes the file's data and metadata to stable storage. The corresponding C function is `fsync`.
    public func synchronize() throws(SystemError) {
        _ = try Syscall.call("fsync") { fsync(rawValue) }
    }

    /// Starts writeback of `length` bytes at `offset`; with `wait`, also waits for writeback of the
    /// range already under way before and after. Not a durability guarantee (no metadata, no disk
    /// cache flush): a writer calls it per chunk so dirty data never piles up for one long fsync.
    /// The corresponding C call is `sync_file_range`.
    public func writeBack(offset: Int64, length: Int64, wait: Bool) throws(SystemError) {
        _ = try Syscall.call("sync_file_range") { culvert_write_back_range(rawValue, offset, length, wait ? 1 : 0) }
    }

    /// Sets the permission bits exactly (the umask does not apply). The corresponding C function is `fchmod`.
    public func setPermissions(_ permissions: UInt32) throws(SystemError) {
        _ = try Syscall.call("fchmod") { fchmod(rawValue, mode_t(permissions)) }
    }

    /// Sets the owner and group. The corresponding C function is `fchown`.
    public func setOwner(userID: UInt32, groupID: UInt32) throws(SystemError) {
        _ = try Syscall.call("fchown") { fchown(rawValue, userID, groupID) }
    }
}
