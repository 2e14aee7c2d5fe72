// TunFraming: how packets are framed on a TUN descriptor — bare IP packets, or each one preceded
// by a 10-byte virtio_net_hdr (IFF_VNET_HDR, for offloads). The framing is fixed when the interface
// is created (IFF_VNET_HDR cannot be added or removed later), so culvertd creates each session's TUN
// with the framing its extension declares (bundle capability `tun-offload`) and checks a TUN's
// actual framing (TUNGETIFF) before it hands a descriptor of it to a provider. Hand-written: no
// Swift library wraps these TUN ioctls (C in CCulvert/tunframing.c).

import CCulvert

/// The framing of a TUN interface's packets.
public enum TunFraming: String, Sendable, Hashable, CaseIterable {
    /// IP packets as they are (`IFF_TUN | IFF_NO_PI`).
    case plain
    /// Every packet preceded by a `virtio_net_hdr` of `VirtioNetHeader.size` bytes (`IFF_VNET_HDR`).
    case virtioNetHeader = "virtio_net_hdr"

    /// The creation flags beyond `IFF_TUN | IFF_NO_PI`.
    public var options: TunDevice.Options { self == .virtioNetHeader ? .virtioNetHeader : [] }
}

/// What TUNGETIFF reports of the interface a descriptor is attached to.
public struct TunInterfaceFlags: Sendable, Hashable {
    /// The interface flags (`IFF_TUN`, `IFF_NO_PI`, `IFF_VNET_HDR`, ...).
    public let rawValue: Int32
    /// The interface's current name.
    public let name: String

    /// The framing these flags give the interface's packets.
    public var framing: TunFraming {
        rawValue & TunDevice.Options.virtioNetHeader.rawValue != 0 ? .virtioNetHeader : .plain
    }
}

extension TunDevice.Options {
    /// `IFF_TUN_EXCL`: creation fails with EBUSY if an interface of the requested name exists, instead
    /// of attaching to it (and to whatever flags and state it has).
    public static let exclusive = TunDevice.Options(rawValue: CULVERT_IFF_TUN_EXCL)
}

extension Descriptor {
    /// The flags and name of the TUN interface this descriptor is attached to.
    /// - Throws: `SystemError` (EBADFD for a TUN descriptor not attached to an interface; ENOTTY or
    ///   EINVAL for a descriptor that is not a TUN).
    /// The corresponding C call is `ioctl(TUNGETIFF)`.
    public func tunInterfaceFlags() throws(SystemError) -> TunInterfaceFlags {
        let fd = rawValue
        var flags: Int32 = 0
        var name = [CChar](repeating: 0, count: TunDevice.maximumNameLength + 1)
        _ = try Syscall.call("TUNGETIFF") { culvert_tun_get_interface(fd, &flags, &name) }
        let text = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return TunInterfaceFlags(rawValue: flags, name: text)
    }
}

extension TunDevice {
    /// Creates a TUN interface with `framing`: `IFF_VNET_HDR` and a header length of
    /// `VirtioNetHeader.size` for `.virtioNetHeader`, neither for `.plain`. With `exclusive`, a
    /// `name` that exists already fails with EBUSY rather than attaching to that interface.
    /// - Throws: `SystemError` from `TunDevice.create` or `TUNSETVNETHDRSZ` (the interface is closed then).
    public static func create(name: String?, framing: TunFraming, exclusive: Bool = false) throws(SystemError) -> TunDevice {
        let device = try create(name: name, options: framing.options.union(exclusive ? .exclusive : []))
        guard framing == .virtioNetHeader else { return device }
        do { try device.descriptor.setVirtioHeaderSize(VirtioNetHeader.size) } catch {
            device.descriptor.close()
            throw error
        }
        return device
    }

    /// This interface's framing as the kernel reports it (`Descriptor.tunInterfaceFlags`).
    public func framing() throws(SystemError) -> TunFraming { try descriptor.tunInterfaceFlags().framing }
}
