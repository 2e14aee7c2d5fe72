// FileStatus: what `stat` says about one file, in Swift terms (no `struct stat` leaks out).

#if canImport(Glibc)
    import Glibc
#endif

/// The type, permissions, identity and size of a file, as reported by the kernel at one instant.
public struct FileStatus: Sendable, Equatable {
    /// The file type bits of `st_mode`.
    public enum Kind: String, Sendable {
        case regular
        case directory
        case symbolicLink = "symbolic_link"
        case characterDevice = "character_device"
        case blockDevice = "block_device"
        case fifo
        case socket
        case unknown
    }

    public var kind: Kind
    /// The permission bits of `st_mode`, including setuid (0o4000), setgid (0o2000) and sticky (0o1000).
    public var permissions: UInt32
    /// `st_nlink`: how many directory entries name this inode.
    public var linkCount: UInt64
    /// `st_size` in bytes; for a sparse file this is the apparent size, not the allocated one.
    public var size: Int64
    public var device: UInt64
    public var inode: UInt64
    public var ownerID: UInt32
    public var groupID: UInt32

    public init(
        kind: Kind, permissions: UInt32, linkCount: UInt64 = 1, size: Int64 = 0, device: UInt64 = 0, inode: UInt64 = 0,
        ownerID: UInt32 = 0, groupID: UInt32 = 0
    ) {
        self.kind = kind
        self.permissions = permissions
        self.linkCount = linkCount
        self.size = size
        self.device = device
        self.inode = inode
        self.ownerID = ownerID
        self.groupID = groupID
    }

    init(_ info: stat) {
        let mode = UInt32(info.st_mode)
        // Linux's S_IF* values are fixed by its ABI; spelled out so the switch needs no casts.
        switch mode & 0o170000 {
        case 0o100000: kind = .regular
        case 0o040000: kind = .directory
        case 0o120000: kind = .symbolicLink
        case 0o020000: kind = .characterDevice
        case 0o060000: kind = .blockDevice
        case 0o010000: kind = .fifo
        case 0o140000: kind = .socket
        default: kind = .unknown
        }
        permissions = mode & 0o7777
        linkCount = UInt64(info.st_nlink)
        size = Int64(info.st_size)
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        ownerID = info.st_uid
        groupID = info.st_gid
    }

    public var isSetUserID: Bool { permissions & 0o4000 != 0 }
    public var isSetGroupID: Bool { permissions & 0o2000 != 0 }
    public var isSticky: Bool { permissions & 0o1000 != 0 }
    /// True if any of the owner, group or other execute bits is set.
    public var isExecutable: Bool { permissions & 0o111 != 0 }

    /// True if both statuses describe the same inode (device and inode number equal).
    public func isSameFile(as other: FileStatus) -> Bool { device == other.device && inode == other.inode }
}
