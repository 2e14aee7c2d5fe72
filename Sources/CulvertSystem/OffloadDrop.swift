// OffloadDrop and OffloadCounters: why the offload engine refused a packet, and how often each
// thing happened. A malformed virtio_net_hdr or IP packet from the TUN is dropped with one of these
// reasons and counted, never trapped on. Hand-written, as the rest of Culvert's offload engine: no
// Swift library splits or merges virtio-net super-packets.

/// Why a packet read from or meant for a virtio-net TUN was dropped. Each reason has its counter
/// in `OffloadCounters`.
public enum OffloadDrop: String, Error, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Fewer bytes than a virtio_net_hdr.
    case truncatedVirtioHeader
    /// A flag other than NEEDS_CSUM and DATA_VALID.
    case unsupportedFlags
    /// A gso_type that is not NONE, TCPV4, TCPV6 or UDP_L4 (with or without ECN).
    case unknownGSOType
    /// A GSO type with gso_size 0.
    case gsoSizeZero
    /// A segment of gso_size payload bytes would not fit an IP packet, or a slot.
    case gsoSizeTooLarge
    /// More segments than `OffloadSegmenter.maximumSegments`.
    case tooManySegments
    /// hdr_len is past the end of the packet.
    case headerLengthPastBuffer
    /// csum_start is past the end of the packet.
    case checksumStartPastBuffer
    /// The two checksum bytes at csum_start + csum_offset are past the end of the packet.
    case checksumOffsetPastBuffer
    /// A GSO packet without NEEDS_CSUM, or whose csum_start/csum_offset are not its transport
    /// header's start and checksum field.
    case checksumFieldMismatch
    /// Not IPv4 or IPv6, or not the IP version its gso_type names.
    case ipVersionMismatch
    /// The IP protocol (IPv6: next header; extension headers are not offloaded) is not the one
    /// its gso_type names.
    case protocolMismatch
    /// The IP header is cut short, or its length field says less than a header.
    case truncatedIPHeader
    /// The TCP or UDP header is cut short, or a TCP data offset under 20 bytes.
    case truncatedTransportHeader
    /// An IPv4 fragment marked for segmentation.
    case fragmentedPacket
    /// A packet longer than the largest IP packet.
    case packetTooLarge

    public var description: String { rawValue }
}

/// What the offload engine did, as named counters. A value the owner of a segmenter or coalescer
/// reads whenever it likes (e.g. for session statistics).
public struct OffloadCounters: Sendable, Hashable {
    /// Super-packets split into more than one segment.
    public var superPacketsSplit: UInt64 = 0
    /// Packets produced by splitting (including single packets passed through).
    public var segmentsProduced: UInt64 = 0
    /// Non-GSO packets whose NEEDS_CSUM checksum was completed.
    public var checksumsCompleted: UInt64 = 0
    /// Super-packets built by coalescing two or more packets.
    public var superPacketsCoalesced: UInt64 = 0
    /// Packets merged into those super-packets.
    public var packetsCoalesced: UInt64 = 0
    /// Packets written through unmerged, with a GSO_NONE header.
    public var packetsPassedThrough: UInt64 = 0

    public var truncatedVirtioHeader: UInt64 = 0
    public var unsupportedFlags: UInt64 = 0
    public var unknownGSOType: UInt64 = 0
    public var gsoSizeZero: UInt64 = 0
    public var gsoSizeTooLarge: UInt64 = 0
    public var tooManySegments: UInt64 = 0
    public var headerLengthPastBuffer: UInt64 = 0
    public var checksumStartPastBuffer: UInt64 = 0
    public var checksumOffsetPastBuffer: UInt64 = 0
    public var checksumFieldMismatch: UInt64 = 0
    public var ipVersionMismatch: UInt64 = 0
    public var protocolMismatch: UInt64 = 0
    public var truncatedIPHeader: UInt64 = 0
    public var truncatedTransportHeader: UInt64 = 0
    public var fragmentedPacket: UInt64 = 0
    public var packetTooLarge: UInt64 = 0

    public init() {}

    /// Every drop counted.
    public var totalDropped: UInt64 { OffloadDrop.allCases.reduce(0) { $0 &+ self[$1] } }

    /// The counter of one drop reason.
    public subscript(drop: OffloadDrop) -> UInt64 {
        get {
            switch drop {
            case .truncatedVirtioHeader: truncatedVirtioHeader
            case .unsupportedFlags: unsupportedFlags
            case .unknownGSOType: unknownGSOType
            case .gsoSizeZero: gsoSizeZero
            case .gsoSizeTooLarge: gsoSizeTooLarge
            case .tooManySegments: tooManySegments
            case .headerLengthPastBuffer: headerLengthPastBuffer
            case .checksumStartPastBuffer: checksumStartPastBuffer
            case .checksumOffsetPastBuffer: checksumOffsetPastBuffer
            case .checksumFieldMismatch: checksumFieldMismatch
            case .ipVersionMismatch: ipVersionMismatch
            case .protocolMismatch: protocolMismatch
            case .truncatedIPHeader: truncatedIPHeader
            case .truncatedTransportHeader: truncatedTransportHeader
            case .fragmentedPacket: fragmentedPacket
            case .packetTooLarge: packetTooLarge
            }
        }
        set {
            switch drop {
            case .truncatedVirtioHeader: truncatedVirtioHeader = newValue
            case .unsupportedFlags: unsupportedFlags = newValue
            case .unknownGSOType: unknownGSOType = newValue
            case .gsoSizeZero: gsoSizeZero = newValue
            case .gsoSizeTooLarge: gsoSizeTooLarge = newValue
            case .tooManySegments: tooManySegments = newValue
            case .headerLengthPastBuffer: headerLengthPastBuffer = newValue
            case .checksumStartPastBuffer: checksumStartPastBuffer = newValue
            case .checksumOffsetPastBuffer: checksumOffsetPastBuffer = newValue
            case .checksumFieldMismatch: checksumFieldMismatch = newValue
            case .ipVersionMismatch: ipVersionMismatch = newValue
            case .protocolMismatch: protocolMismatch = newValue
            case .truncatedIPHeader: truncatedIPHeader = newValue
            case .truncatedTransportHeader: truncatedTransportHeader = newValue
            case .fragmentedPacket: fragmentedPacket = newValue
            case .packetTooLarge: packetTooLarge = newValue
            }
        }
    }

    /// The sum of these counters and `other`'s (e.g. a reader's and a writer's).
    public func adding(_ other: OffloadCounters) -> OffloadCounters {
        var sum = self
        sum.superPacketsSplit &+= other.superPacketsSplit
        sum.segmentsProduced &+= other.segmentsProduced
        sum.checksumsCompleted &+= other.checksumsCompleted
        sum.superPacketsCoalesced &+= other.superPacketsCoalesced
        sum.packetsCoalesced &+= other.packetsCoalesced
        sum.packetsPassedThrough &+= other.packetsPassedThrough
        for drop in OffloadDrop.allCases { sum[drop] &+= other[drop] }
        return sum
    }

    /// Counts one drop.
    mutating func record(_ drop: OffloadDrop) { self[drop] &+= 1 }
}
