// TransportHeader: the 16-byte header of message type 4, transport data (whitepaper §5.4.6),
// read from and written into the packet buffer itself; the payload is sealed in place after it.
import WireGuardCrypto

/// type(1) reserved(3) receiver(4) counter(8), then the sealed packet (at least the 16-byte tag).
public struct TransportHeader: Sendable, Equatable {
    public static let byteCount = 16
    /// Header plus an empty sealed payload (a keepalive).
    public static let minimumMessageCount = byteCount + ChaCha20Poly1305.tagCount

    public var receiverIndex: UInt32
    public var counter: UInt64

    public init(receiverIndex: UInt32, counter: UInt64) {
        self.receiverIndex = receiverIndex
        self.counter = counter
    }

    /// Parses the header of a whole transport message (`bytes` is the entire datagram).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(MessageParseError) {
        let type = try MessageType.classify(bytes)
        guard type == .transport else { throw .unexpectedType(expected: .transport, actual: type) }
        guard bytes.count >= Self.minimumMessageCount else {
            throw .wrongLength(.transport, expected: Self.minimumMessageCount, actual: bytes.count)
        }
        receiverIndex = bytes.littleEndianUInt32(at: 4)
        counter = bytes.littleEndianUInt64(at: 8)
    }

    public func write(into buffer: UnsafeMutableRawBufferPointer) throws(MessageWriteError) {
        guard buffer.count >= Self.byteCount else { throw .bufferTooSmall(needed: Self.byteCount, available: buffer.count) }
        MessageType.writeHeader(.transport, into: buffer)
        buffer.store(receiverIndex, at: 4)
        buffer.store(counter, at: 8)
    }
}
