// TunDevice: a layer-3 TUN interface opened through /dev/net/tun. culvertd creates one per session
// and hands the descriptor to the provider as fd 3; the interface lives as long as some process
// holds a descriptor for it (Culvert never makes it persistent).

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

/// An open TUN interface: the descriptor that carries its packets, its kernel name and its index.
/// A value type: whoever created it closes `descriptor`, and closing the last descriptor removes the
/// interface with every address and route on it.
public struct TunDevice: Sendable, Hashable {
    /// The longest interface name the kernel accepts (IFNAMSIZ - 1).
    public static let maximumNameLength = Int(CULVERT_INTERFACE_NAME_MAX)

    /// Optional behaviours of the device beyond `IFF_TUN | IFF_NO_PI`, which are always set.
    public struct Options: OptionSet, Sendable, Hashable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// `IFF_MULTI_QUEUE`: more descriptors can attach to the same interface, one queue each.
        public static let multiQueue = Options(rawValue: CULVERT_IFF_MULTI_QUEUE)
        /// `IFF_VNET_HDR`: every packet is preceded by a `virtio_net_hdr` (for offloads).
        public static let virtioNetHeader = Options(rawValue: CULVERT_IFF_VNET_HDR)
    }

    /// The descriptor for reading and writing packets; close-on-exec, blocking.
    public let descriptor: Descriptor
    /// The interface name the kernel assigned (the requested one, or e.g. `tun0`).
    public let name: String
    /// The interface index, for netlink.
    public let interfaceIndex: Int32

    /// An interface someone else created, e.g. the descriptor a re-adopted provider hands back.
    public init(descriptor: Descriptor, name: String, interfaceIndex: Int32) {
        self.descriptor = descriptor
        self.name = name
        self.interfaceIndex = interfaceIndex
    }

    /// Creates a TUN interface in the calling thread's network namespace.
    ///
    /// - Parameters:
    ///   - name: the interface name, or nil to let the kernel choose `tunN`. A name already used by a
    ///     TUN device attaches to it (multi-queue) or fails with EBUSY; by another kind of device, EINVAL.
    ///   - options: extra flags.
    /// - Throws: `SystemError` from `open` or `TUNSETIFF` (ENAMETOOLONG for a name over
    ///   `maximumNameLength` bytes), or from `if_nametoindex`.
    /// The corresponding C calls are `open("/dev/net/tun")`, `ioctl(TUNSETIFF)` and `if_nametoindex`.
    public static func create(name: String? = nil, options: Options = []) throws(SystemError) -> TunDevice {
        let flags = CULVERT_IFF_TUN | CULVERT_IFF_NO_PI | options.rawValue
        var assigned = [CChar](repeating: 0, count: maximumNameLength + 1)
        let fd = try Syscall.call("TUNSETIFF", path: name) {
            if let name { return culvert_tun_create(name, flags, &assigned) }
            return culvert_tun_create(nil, flags, &assigned)
        }
        let descriptor = Descriptor(rawValue: fd)
        let kernelName = String(decoding: assigned.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let index = if_nametoindex(kernelName)
        guard index != 0 else {
            let error = SystemError(call: "if_nametoindex", errno: Syscall.currentErrno, path: kernelName)
            descriptor.close()
            throw error
        }
        return TunDevice(descriptor: descriptor, name: kernelName, interfaceIndex: Int32(bitPattern: index))
    }
}
