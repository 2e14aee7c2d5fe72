// HandshakeResponse: message type 2, 92 bytes (whitepaper §5.4.3).
import WireGuardCrypto

/// type(1) reserved(3) sender(4) receiver(4) ephemeral(32) empty(0+16) mac1(16) mac2(16).
public struct HandshakeResponse: HandshakeMessage, Equatable {
    public static let byteCount = 92

    public var senderIndex: UInt32
    public var receiverIndex: UInt32
    public var ephemeral: PublicKey
    /// The AEAD tag of the empty payload.
    public var encryptedNothing: MAC16
    public var mac1: MAC16
    public var mac2: MAC16

    init(senderIndex: UInt32, receiverIndex: UInt32, ephemeral: PublicKey, encryptedNothing: MAC16) {
        self.senderIndex = senderIndex
        self.receiverIndex = receiverIndex
        self.ephemeral = ephemeral
        self.encryptedNothing = encryptedNothing
        mac1 = .zero
        mac2 = .zero
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(MessageParseError) {
        try MessageType.expect(.response, count: Self.byteCount, in: bytes)
        senderIndex = bytes.littleEndianUInt32(at: 4)
        receiverIndex = bytes.littleEndianUInt32(at: 8)
        ephemeral = try! PublicKey(copying: bytes.slice(12, 32))  // 32 bytes: length checked above
        encryptedNothing = try! MAC16(copying: bytes.slice(44, 16))  // 16 bytes: length checked above
        mac1 = try! MAC16(copying: bytes.slice(60, 16))  // 16 bytes: length checked above
        mac2 = try! MAC16(copying: bytes.slice(76, 16))  // 16 bytes: length checked above
    }

    public func write(into buffer: UnsafeMutableRawBufferPointer) throws(MessageWriteError) {
        try Self.checkRoom(buffer)
        MessageType.writeHeader(.response, into: buffer)
        buffer.store(senderIndex, at: 4)
        buffer.store(receiverIndex, at: 8)
        ephemeral.withUnsafeBytes { buffer.store($0, at: 12) }
        encryptedNothing.withUnsafeBytes { buffer.store($0, at: 44) }
        mac1.withUnsafeBytes { buffer.store($0, at: 60) }
        mac2.withUnsafeBytes { buffer.store($0, at: 76) }
    }

    /// The Noise part (ephemeral, encrypted empty payload): bytes 12..<60.
    public var noiseBytes: [UInt8] { Array(bytes[12..<60]) }
}
