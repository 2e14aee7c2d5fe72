// VirtioNetHeader: the `struct virtio_net_hdr` that precedes every packet on a TUN created with
// IFF_VNET_HDR (include/uapi/linux/virtio_net.h): how the kernel describes a TCP/UDP super-packet
// (GSO) and a checksum it left for us to finish, and how we describe ours when writing. Hand-written:
// no Swift library reads or writes this header; it is described here as byte offsets, never as a C type.

/// The 10-byte header (12 with `num_buffers`, after TUNSETVNETHDRSZ 12), little-endian on every
/// architecture Culvert runs on (TUN uses the host's order unless IFF_VNET_LE/BE says otherwise):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | flags (`NEEDS_CSUM` 1, `DATA_VALID` 2, `RSC_INFO` 4) |
/// | 1 | 1 | gso_type (`NONE` 0, `TCPV4` 1, `UDP` 3, `TCPV6` 4, `UDP_L4` 5, + `ECN` 0x80) |
/// | 2 | 2 | hdr_len: bytes of IP + transport headers |
/// | 4 | 2 | gso_size: payload bytes per segment |
/// | 6 | 2 | csum_start: where checksumming starts (the transport header) |
/// | 8 | 2 | csum_offset: where, after csum_start, the checksum goes (16 TCP, 6 UDP) |
/// | 10 | 2 | num_buffers (12-byte form only; 0 on TUN) |
public struct VirtioNetHeader: Sendable, Hashable {
    /// The header without `num_buffers`, TUN's default.
    public static let size = 10
    /// The header with `num_buffers` (TUNSETVNETHDRSZ 12).
    public static let sizeWithBufferCount = 12

    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at csum_start + csum_offset is still to be completed.
    public static let flagNeedsChecksum: UInt8 = 1
    /// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was verified (receive side only).
    public static let flagDataValid: UInt8 = 2
    /// `VIRTIO_NET_HDR_F_RSC_INFO`: coalescing statistics in csum_start/offset (never on TUN).
    public static let flagRSCInfo: UInt8 = 4
    /// `VIRTIO_NET_HDR_GSO_ECN`: the super-packet's first segment carries CWR.
    public static let gsoECNBit: UInt8 = 0x80

    /// The offload a header describes (its gso_type without the ECN bit).
    public enum GSOType: UInt8, Sendable, Hashable, CaseIterable {
        /// One ordinary packet.
        case none = 0
        /// A TCP over IPv4 super-packet (TSO4).
        case tcpV4 = 1
        /// A TCP over IPv6 super-packet (TSO6).
        case tcpV6 = 4
        /// A UDP super-packet cut into datagrams (USO, UDP_SEGMENT), either IP version.
        case udpL4 = 5
    }

    /// The raw flags byte.
    public var flags: UInt8
    /// The offload kind.
    public var gsoType: GSOType
    /// `VIRTIO_NET_HDR_GSO_ECN` was set in gso_type.
    public var ecn: Bool
    /// hdr_len.
    public var headerLength: UInt16
    /// gso_size.
    public var gsoSize: UInt16
    /// csum_start.
    public var checksumStart: UInt16
    /// csum_offset.
    public var checksumOffset: UInt16

    /// A header; the default is a plain packet with nothing to do (GSO_NONE, no flags).
    public init(
        flags: UInt8 = 0, gsoType: GSOType = .none, ecn: Bool = false, headerLength: UInt16 = 0, gsoSize: UInt16 = 0,
        checksumStart: UInt16 = 0, checksumOffset: UInt16 = 0
    ) {
        self.flags = flags
        self.gsoType = gsoType
        self.ecn = ecn
        self.headerLength = headerLength
        self.gsoSize = gsoSize
        self.checksumStart = checksumStart
        self.checksumOffset = checksumOffset
    }

    /// True when `NEEDS_CSUM` is set.
    public var needsChecksum: Bool { flags & Self.flagNeedsChecksum != 0 }

    /// Reads the header from the first `VirtioNetHeader.size` bytes of `bytes`.
    /// - Throws: `.truncatedVirtioHeader` for fewer bytes, `.unsupportedFlags` for a flag other than
    ///   NEEDS_CSUM and DATA_VALID, `.unknownGSOType` for any other gso_type (UFO included).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(OffloadDrop) {
        guard bytes.count >= Self.size else { throw .truncatedVirtioHeader }
        let flags = bytes[0]
        guard flags & ~(Self.flagNeedsChecksum | Self.flagDataValid) == 0 else { throw .unsupportedFlags }
        guard let type = GSOType(rawValue: bytes[1] & ~Self.gsoECNBit) else { throw .unknownGSOType }
        self.flags = flags
        self.gsoType = type
        self.ecn = bytes[1] & Self.gsoECNBit != 0
        self.headerLength = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        self.gsoSize = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        self.checksumStart = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
        self.checksumOffset = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
    }

    /// Writes the header into the first `size` bytes of `bytes` (`size` is 10 or 12; a 12-byte
    /// header gets num_buffers 0). The caller provides at least `size` bytes.
    public func encode(into bytes: UnsafeMutableRawBufferPointer, size: Int = VirtioNetHeader.size) {
        precondition(size == Self.size || size == Self.sizeWithBufferCount, "a virtio_net_hdr is 10 or 12 bytes")
        precondition(bytes.count >= size, "\(bytes.count) bytes cannot hold a \(size)-byte virtio_net_hdr")
        bytes[0] = flags
        bytes[1] = gsoType.rawValue | (ecn ? Self.gsoECNBit : 0)
        bytes.storeBytes(of: headerLength.littleEndian, toByteOffset: 2, as: UInt16.self)
        bytes.storeBytes(of: gsoSize.littleEndian, toByteOffset: 4, as: UInt16.self)
        bytes.storeBytes(of: checksumStart.littleEndian, toByteOffset: 6, as: UInt16.self)
        bytes.storeBytes(of: checksumOffset.littleEndian, toByteOffset: 8, as: UInt16.self)
        if size == Self.sizeWithBufferCount { bytes.storeBytes(of: UInt16(0), toByteOffset: 10, as: UInt16.self) }
    }

    /// The header as bytes (tests and diagnostics; the hot path uses `encode(into:size:)`).
    public func encoded(size: Int = VirtioNetHeader.size) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { encode(into: $0, size: size) }
        return bytes
    }
}
