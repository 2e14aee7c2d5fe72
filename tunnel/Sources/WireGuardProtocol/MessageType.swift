// MessageType and the typed parse/write errors of WireGuard's four messages (whitepaper §5.4):
// every byte of a message comes from the network, so every refusal says exactly why.

/// The first byte of every WireGuard message; the three bytes after it are reserved and must be zero.
public enum MessageType: UInt8, Sendable {
    case initiation = 1
    case response = 2
    case cookieReply = 3
    case transport = 4

    /// Reads the 4-byte type header of `bytes` (any message) without reading past it.
    public static func classify(_ bytes: UnsafeRawBufferPointer) throws(MessageParseError) -> MessageType {
        guard bytes.count >= headerCount else { throw .truncated(count: bytes.count) }
        guard let type = MessageType(rawValue: bytes[0]) else { throw .unknownType(bytes[0]) }
        guard bytes[1] == 0, bytes[2] == 0, bytes[3] == 0 else { throw .reservedNonzero }
        return type
    }

    /// Type byte plus three reserved bytes.
    static let headerCount = 4

    /// Checks the header and the exact length of a fixed-size message.
    static func expect(_ type: MessageType, count: Int, in bytes: UnsafeRawBufferPointer) throws(MessageParseError) {
        let found = try classify(bytes)
        guard found == type else { throw .unexpectedType(expected: type, actual: found) }
        guard bytes.count == count else { throw .wrongLength(type, expected: count, actual: bytes.count) }
    }

    static func writeHeader(_ type: MessageType, into buffer: UnsafeMutableRawBufferPointer) {
        buffer.storeBytes(of: UInt32(type.rawValue).littleEndian, toByteOffset: 0, as: UInt32.self)
    }
}

/// Why bytes from the network are not a well-formed WireGuard message.
public enum MessageParseError: Error, Equatable, Sendable {
    /// Fewer than the 4 header bytes.
    case truncated(count: Int)
    /// A type byte other than 1...4.
    case unknownType(UInt8)
    /// One of the three reserved header bytes is not zero.
    case reservedNonzero
    /// A well-formed header of another message type than the parser was asked for.
    case unexpectedType(expected: MessageType, actual: MessageType)
    /// The length is not the message's (for transport data: less than header plus tag).
    case wrongLength(MessageType, expected: Int, actual: Int)
}

/// Why a message could not be written.
public enum MessageWriteError: Error, Equatable, Sendable {
    case bufferTooSmall(needed: Int, available: Int)
}

extension UnsafeRawBufferPointer {
    func littleEndianUInt32(at offset: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    func littleEndianUInt64(at offset: Int) -> UInt64 { UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    func slice(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: self[offset..<(offset + count)]) }
}

extension UnsafeMutableRawBufferPointer {
    func store(_ value: UInt32, at offset: Int) { storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self) }
    func store(_ value: UInt64, at offset: Int) { storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self) }
    func store(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        UnsafeMutableRawBufferPointer(rebasing: self[offset..<(offset + bytes.count)]).copyMemory(from: bytes)
    }
    func store(_ bytes: [UInt8], at offset: Int) { bytes.withUnsafeBytes { store($0, at: offset) } }
}
