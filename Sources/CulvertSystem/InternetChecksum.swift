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
    ///
    /// Sums native 64-bit words with end-around carry and swaps the folded result once: the ones'
    /// complement sum is byte-order independent (RFC 1071 §2(B)), so this equals the sum of
    /// big-endian 16-bit words at a quarter of the loads and no per-word swap (it is the hot loop of
    /// splitting and merging 64 KiB super-packets).
    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        var index = 0
        // A two-word accumulator passed inout, not a nested function capturing it: a capturing
        // closure boxes its variables on the heap in debug builds, once per call.
        var sums = (accumulator: UInt64(0), carries: UInt64(0))
        while index + 32 <= count {
            Self.accumulate(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self), into: &sums)
            Self.accumulate(bytes.loadUnaligned(fromByteOffset: index + 8, as: UInt64.self), into: &sums)
            Self.accumulate(bytes.loadUnaligned(fromByteOffset: index + 16, as: UInt64.self), into: &sums)
            Self.accumulate(bytes.loadUnaligned(fromByteOffset: index + 24, as: UInt64.self), into: &sums)
            index += 32
        }
        while index + 8 <= count {
            Self.accumulate(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self), into: &sums)
            index += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while index < count {
            tail |= UInt64(bytes[index]) << shift
            shift += 8
            index += 1
        }
        Self.accumulate(tail, into: &sums)
        // Each carry out of 64 bits is worth 2^64 ≡ 1 (mod 2^16 − 1): add them back, then fold.
        var folded = (sums.accumulator & 0xFFFF_FFFF) &+ (sums.accumulator >> 32) &+ sums.carries
        while folded > 0xFFFF { folded = (folded & 0xFFFF) &+ (folded >> 16) }
        // Native order is little-endian on every platform Culvert runs on; the swap makes it big-endian.
        sum &+= UInt64(UInt16(littleEndian: UInt16(folded)).byteSwapped)
    }

    @inline(__always)
    private static func accumulate(_ word: UInt64, into sums: inout (accumulator: UInt64, carries: UInt64)) {
        let (total, overflow) = sums.accumulator.addingReportingOverflow(word)
        sums.accumulator = total
        sums.carries &+= overflow ? 1 : 0
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
