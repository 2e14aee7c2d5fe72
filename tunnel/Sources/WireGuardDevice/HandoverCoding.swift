// HandoverWriter, HandoverReader: the little-endian byte stream of a device handover blob
// (DeviceHandoverState). Hand-written: the format is ours and small, and a reader that checks
// every length before it reads is what hostile bytes need (no Codable decoder bounds its input).
// The reader never traps: a short or malformed blob is a typed error.

struct HandoverWriter {
    private(set) var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }
    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func i64(_ value: Int64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func raw(_ value: some Collection<UInt8>) { bytes += value }

    /// A present flag, then the offset when present.
    mutating func offset(_ value: Int64?) {
        bool(value != nil)
        if let value { i64(value) }
    }
}

struct HandoverReader {
    private let bytes: [UInt8]
    private(set) var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }

    mutating func take(_ count: Int) throws(DeviceHandoverError) -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else { throw .truncated(at: position) }
        defer { position += count }
        return bytes[position..<position + count]
    }

    mutating func u8() throws(DeviceHandoverError) -> UInt8 { try take(1).first ?? 0 }

    /// Exactly 0 or 1; anything else is not ours.
    mutating func bool(_ field: String) throws(DeviceHandoverError) -> Bool {
        let start = position
        switch try u8() {
        case 0: return false
        case 1: return true
        default: throw .invalidField(field, at: start)
        }
    }

    mutating func u16() throws(DeviceHandoverError) -> UInt16 { UInt16(truncatingIfNeeded: try integer(2)) }
    mutating func u32() throws(DeviceHandoverError) -> UInt32 { UInt32(truncatingIfNeeded: try integer(4)) }
    mutating func u64() throws(DeviceHandoverError) -> UInt64 { try integer(8) }
    mutating func i64() throws(DeviceHandoverError) -> Int64 { Int64(bitPattern: try integer(8)) }

    /// An optional offset (present flag, then nanoseconds) within ±`DeviceHandoverState.maximumOffset`.
    mutating func offset(_ field: String) throws(DeviceHandoverError) -> Int64? {
        guard try bool(field) else { return nil }
        let start = position
        let value = try i64()
        guard value.magnitude <= DeviceHandoverState.maximumOffsetNanoseconds.magnitude else { throw .invalidField(field, at: start) }
        return value
    }

    private mutating func integer(_ count: Int) throws(DeviceHandoverError) -> UInt64 {
        var value: UInt64 = 0
        for (shift, byte) in try take(count).enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
        return value
    }
}
