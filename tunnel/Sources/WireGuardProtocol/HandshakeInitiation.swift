// HandshakeInitiation: message type 1, 148 bytes (whitepaper §5.4.2).
import WireGuardCrypto

/// type(1) reserved(3) sender(4) ephemeral(32) static(32+16) timestamp(12+16) mac1(16) mac2(16).
public struct HandshakeInitiation: HandshakeMessage, Equatable {
    public static let byteCount = 148
    static let encryptedStaticCount = PublicKey.byteCount + ChaCha20Poly1305.tagCount
    static let encryptedTimestampCount = TAI64N.byteCount + ChaCha20Poly1305.tagCount

    public var senderIndex: UInt32
    public var ephemeral: PublicKey
    /// Always 48 bytes (enforced by every initialiser).
    public private(set) var encryptedStatic: [UInt8]
    /// Always 28 bytes (enforced by every initialiser).
    public private(set) var encryptedTimestamp: [UInt8]
    public var mac1: MAC16
    public var mac2: MAC16

    init(senderIndex: UInt32, ephemeral: PublicKey, encryptedStatic: [UInt8], encryptedTimestamp: [UInt8]) {
        precondition(encryptedStatic.count == Self.encryptedStaticCount && encryptedTimestamp.count == Self.encryptedTimestampCount)
        self.senderIndex = senderIndex
        self.ephemeral = ephemeral
        self.encryptedStatic = encryptedStatic
        self.encryptedTimestamp = encryptedTimestamp
        mac1 = .zero
        mac2 = .zero
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(MessageParseError) {
        try MessageType.expect(.initiation, count: Self.byteCount, in: bytes)
        senderIndex = bytes.littleEndianUInt32(at: 4)
        ephemeral = try! PublicKey(copying: bytes.slice(8, 32))  // 32 bytes: length checked above
        encryptedStatic = Array(bytes.slice(40, Self.encryptedStaticCount))
        encryptedTimestamp = Array(bytes.slice(88, Self.encryptedTimestampCount))
        mac1 = try! MAC16(copying: bytes.slice(116, 16))  // 16 bytes: length checked above
        mac2 = try! MAC16(copying: bytes.slice(132, 16))  // 16 bytes: length checked above
    }

    public func write(into buffer: UnsafeMutableRawBufferPointer) throws(MessageWriteError) {
        try Self.checkRoom(buffer)
        MessageType.writeHeader(.initiation, into: buffer)
        buffer.store(senderIndex, at: 4)
        ephemeral.withUnsafeBytes { buffer.store($0, at: 8) }
        buffer.store(encryptedStatic, at: 40)
        buffer.store(encryptedTimestamp, at: 88)
        mac1.withUnsafeBytes { buffer.store($0, at: 116) }
        mac2.withUnsafeBytes { buffer.store($0, at: 132) }
    }

    /// The Noise part (ephemeral, encrypted static, encrypted timestamp): bytes 8..<116.
    public var noiseBytes: [UInt8] { Array(bytes[8..<116]) }
}
