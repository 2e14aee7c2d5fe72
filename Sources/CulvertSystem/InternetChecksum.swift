// InternetChecksum: the RFC 1071 ones' complement sum over byte ranges and the TCP/UDP
// pseudo-headers, for the offload engine (OffloadSegmenter, OffloadCoalescer) that rewrites IP,
// TCP and UDP headers. Hand-written: no Swift library computes these over raw packet buffers
// without copying.

/// An RFC 1071 sum being accumulated: add byte ranges and pseudo-header words, then `folded` or
/// `checksum`. A value type of one integer; accumulating allocates nothing.
struct InternetChecksum {
    /// The unfolded sum of 16-bit big-endian words (added as 32-bit words, which folds to the same).
    private var sum: UInt64 = 0

    init() {}

    /// Adds `bytes` as big-endian 16-bit words; an odd last byte is padded with a zero byte.
    /// Ranges added one after the other must each start at an even offset of the checksummed data.
    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var index = 0
        let count = bytes.count
        var wide: UInt64 = 0
        while index + 4 <= count {
            wide &+= UInt64(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt32.self)))
            index += 4
        }
        if index + 2 <= count {
            wide &+= UInt64(UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt16.self)))
            index += 2
        }
        if index < count { wide &+= UInt64(bytes[index]) << 8 }
        // At most 16,384 4-byte words per 64 KiB range: no overflow of 64 bits for any sane number of ranges.
        sum &+= wide
    }

    /// Adds one 16-bit word.
    mutating func add(word: UInt16) { sum &+= UInt64(word) }

    /// Adds the pseudo-header of TCP or UDP over IPv4 or IPv6: the addresses (read from the IP
    /// header at `ipHeader`), the protocol and the transport length.
    mutating func addPseudoHeader(ipHeader: UnsafeRawBufferPointer, isIPv6: Bool, protocol proto: UInt8, transportLength: Int) {
        if isIPv6 {
            add(UnsafeRawBufferPointer(rebasing: ipHeader[IPLayout.v6SourceOffset..<(IPLayout.v6SourceOffset + 32)]))
            add(word: UInt16(truncatingIfNeeded: transportLength >> 16))
            add(word: UInt16(truncatingIfNeeded: transportLength))
        } else {
            add(UnsafeRawBufferPointer(rebasing: ipHeader[IPLayout.v4SourceOffset..<(IPLayout.v4SourceOffset + 8)]))
            add(word: UInt16(truncatingIfNeeded: transportLength))
        }
        add(word: UInt16(proto))
    }

    /// The sum folded to 16 bits, not complemented: what a CHECKSUM_PARTIAL field holds.
    var folded: UInt16 {
        var value = sum
        while value > 0xFFFF { value = (value & 0xFFFF) &+ (value >> 16) }
        return UInt16(value)
    }

    /// The checksum to store: the complement of the folded sum.
    var checksum: UInt16 { ~folded }
}

/// Fixed offsets and values of IPv4, IPv6, TCP and UDP headers, shared by the offload engine.
enum IPLayout {
    static let v4MinimumHeaderLength = 20
    static let v6HeaderLength = 40
    static let v4TotalLengthOffset = 2
    static let v4IdentificationOffset = 4
    static let v4FragmentOffset = 6
    static let v4TimeToLiveOffset = 8
    static let v4ProtocolOffset = 9
    static let v4ChecksumOffset = 10
    static let v4SourceOffset = 12
    static let v6PayloadLengthOffset = 4
    static let v6NextHeaderOffset = 6
    static let v6HopLimitOffset = 7
    static let v6SourceOffset = 8
    /// The "more fragments" flag and the fragment offset, in the 16 bits at `v4FragmentOffset`.
    static let v4FragmentMask: UInt16 = 0x3FFF

    static let protocolTCP: UInt8 = 6
    static let protocolUDP: UInt8 = 17

    static let tcpMinimumHeaderLength = 20
    static let tcpMaximumHeaderLength = 60
    static let tcpSequenceOffset = 4
    static let tcpAcknowledgementOffset = 8
    static let tcpDataOffsetOffset = 12
    static let tcpFlagsOffset = 13
    static let tcpWindowOffset = 14
    static let tcpChecksumOffset = 16
    static let tcpUrgentOffset = 18
    static let udpHeaderLength = 8
    static let udpLengthOffset = 4
    static let udpChecksumOffset = 6

    static let tcpFIN: UInt8 = 0x01
    static let tcpSYN: UInt8 = 0x02
    static let tcpRST: UInt8 = 0x04
    static let tcpPSH: UInt8 = 0x08
    static let tcpACK: UInt8 = 0x10
    static let tcpURG: UInt8 = 0x20
    static let tcpECE: UInt8 = 0x40
    static let tcpCWR: UInt8 = 0x80

    /// The largest IP packet (IPv4 total length, or IPv6 header + payload length, both 16 bits).
    static let maximumPacketLength = 65_535
}

extension UnsafeRawBufferPointer {
    /// The big-endian 16-bit word at `offset` (the caller checked the bounds).
    @inline(__always) func be16(_ offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// The big-endian 32-bit word at `offset` (the caller checked the bounds).
    @inline(__always) func be32(_ offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}

extension UnsafeMutableRawBufferPointer {
    /// Stores `value` big-endian at `offset` (the caller checked the bounds).
    @inline(__always) func setBE16(_ value: UInt16, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }

    /// Stores `value` big-endian at `offset` (the caller checked the bounds).
    @inline(__always) func setBE32(_ value: UInt32, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }
}
