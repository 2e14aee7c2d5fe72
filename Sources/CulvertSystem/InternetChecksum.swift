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
