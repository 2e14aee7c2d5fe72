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

extension TunOffloads {
    /// The order `enableTunOffloads` tries them in: each step is kept only if the kernel accepts it
    /// together with the steps kept before (USO4 and USO6 go together: the kernel enables UDP
    /// segmentation only with both).
    public static let enableOrder: [TunOffloads] = [.checksum, .tcpV4, .tcpV6, .tcpECN, [.udpV4, .udpV6]]
}

extension Descriptor {
    /// Whether this TUN descriptor prefixes every packet with a virtio_net_hdr (it was created with
    /// IFF_VNET_HDR). False for a TUN without it.
    /// - Throws: `SystemError` (EBADFD, EINVAL or ENOTTY for a descriptor that is not an attached TUN).
    /// The corresponding C call is `ioctl(TUNGETIFF)`.
    public func tunHasVirtioHeader() throws(SystemError) -> Bool {
        try tunInterfaceFlags().framing == .virtioNetHeader
    }

    /// Enables the offloads of `wanted` one step of `TunOffloads.enableOrder` at a time, keeping each
    /// step the kernel accepts (EINVAL: this kernel does not know it, or refuses it without the
    /// steps before) and returns the set in force. Nothing is assumed: a step is in the result only
    /// if its TUNSETOFFLOAD succeeded, and without `.checksum` nothing else is tried. Any error other
    /// than EINVAL stops the sequence with what was in force until then.
    /// The corresponding C call is `ioctl(TUNSETOFFLOAD)`, once per step.
    public func enableTunOffloads(_ wanted: TunOffloads = TunOffloads(TunOffloads.enableOrder)) -> TunOffloads {
        var accepted: TunOffloads = []
        var lastFailed = false
        for step in TunOffloads.enableOrder where wanted.isSuperset(of: step) {
            if step != .checksum && !accepted.contains(.checksum) { break }
            do throws(SystemError) {
                try setTunOffloads(accepted.union(step))
                accepted.formUnion(step)
                lastFailed = false
            } catch {
                lastFailed = true
                if error.errno != Syscall.EINVAL { break }
            }
        }
        // The kernel leaves the set unchanged on a refused TUNSETOFFLOAD; restated so the set in force is
        // exactly `accepted` even if it did not. try?: if even this fails, the set before the refused call stands.
        if lastFailed { try? setTunOffloads(accepted) }
        return accepted
    }
}
