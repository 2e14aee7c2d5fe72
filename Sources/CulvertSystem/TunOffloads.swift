// TunOffloads: the offloads a TUN created with IFF_VNET_HDR accepts (TUNSETOFFLOAD) and its
// virtio_net_hdr length (TUNSETVNETHDRSZ). Enabling them is what makes the kernel hand the TUN
// 64 KiB super-packets that OffloadSegmenter splits. Wrappers of one ioctl each (C in CCulvert/shim.c),
// hand-written: no Swift library wraps these TUN ioctls.

import CCulvert

/// `TUN_F_*` flags for `Descriptor.setTunOffloads`.
public struct TunOffloads: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// TUN_F_CSUM: packets may arrive with NEEDS_CSUM (required by every other flag).
    public static let checksum = TunOffloads(rawValue: UInt32(CULVERT_TUN_F_CSUM))
    /// TUN_F_TSO4: TCP over IPv4 super-packets.
    public static let tcpV4 = TunOffloads(rawValue: UInt32(CULVERT_TUN_F_TSO4))
    /// TUN_F_TSO6: TCP over IPv6 super-packets.
    public static let tcpV6 = TunOffloads(rawValue: UInt32(CULVERT_TUN_F_TSO6))
    /// TUN_F_TSO_ECN: TCP super-packets whose first segment carries CWR.
    public static let tcpECN = TunOffloads(rawValue: UInt32(CULVERT_TUN_F_TSO_ECN))
    /// TUN_F_USO4: UDP over IPv4 super-packets (Linux 6.2+).
    public static let udpV4 = TunOffloads(rawValue: UInt32(CULVERT_TUN_F_USO4))
    /// TUN_F_USO6: UDP over IPv6 super-packets (Linux 6.2+).
    public static let udpV6 = TunOffloads(rawValue: UInt32(CULVERT_TUN_F_USO6))
}

extension Descriptor {
    /// Sets the offloads of a TUN opened with `TunDevice.Options.virtioNetHeader` (replacing the
    /// previous set; `[]` turns them off).
    /// - Throws: `SystemError` (EINVAL for a flag the kernel does not know, e.g. USO before 6.2: retry
    ///   without it).
    /// The corresponding C call is `ioctl(TUNSETOFFLOAD)`.
    public func setTunOffloads(_ offloads: TunOffloads) throws(SystemError) {
        let fd = rawValue
        _ = try Syscall.call("TUNSETOFFLOAD") { culvert_tun_set_offload(fd, offloads.rawValue) }
    }

    /// Sets the virtio_net_hdr length of a TUN opened with `virtioNetHeader`: `VirtioNetHeader.size`
    /// (the default) or `.sizeWithBufferCount`.
    /// - Throws: `SystemError` (EINVAL for a size under 10).
    /// The corresponding C call is `ioctl(TUNSETVNETHDRSZ)`.
    public func setVirtioHeaderSize(_ size: Int) throws(SystemError) {
        let fd = rawValue
        _ = try Syscall.call("TUNSETVNETHDRSZ") { culvert_tun_set_vnet_header_size(fd, Int32(truncatingIfNeeded: size)) }
    }
}
