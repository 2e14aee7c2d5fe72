// IPLayout: the fixed offsets and values of IPv4, IPv6, TCP and UDP headers that the offload engine
// (OffloadSegmenter, OffloadCoalescer) reads and rewrites, and big-endian loads and stores on raw
// buffers. Hand-written: no Swift library describes these headers over unsafe buffers without copying.

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
