// CookieReply: message type 3, 64 bytes (whitepaper §5.4.7).
import WireGuardCrypto

/// type(1) reserved(3) receiver(4) nonce(24) cookie(16+16).
public struct CookieReply: Sendable, Equatable {
    public static let byteCount = 64
    static let nonceCount = XChaCha20Poly1305.nonceCount
    static let encryptedCookieCount = MAC16.byteCount + XChaCha20Poly1305.tagCount

    public var receiverIndex: UInt32
    /// Always 24 bytes (enforced by every initialiser).
    public private(set) var nonce: [UInt8]
    /// Always 32 bytes (enforced by every initialiser).
    public private(set) var encryptedCookie: [UInt8]

    init(receiverIndex: UInt32, nonce: [UInt8], encryptedCookie: [UInt8]) {
        precondition(nonce.count == Self.nonceCount && encryptedCookie.count == Self.encryptedCookieCount)
        self.receiverIndex = receiverIndex
        self.nonce = nonce
        self.encryptedCookie = encryptedCookie
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(MessageParseError) {
        try MessageType.expect(.cookieReply, count: Self.byteCount, in: bytes)
        receiverIndex = bytes.littleEndianUInt32(at: 4)
        nonce = Array(bytes.slice(8, Self.nonceCount))
        encryptedCookie = Array(bytes.slice(32, Self.encryptedCookieCount))
    }

    public init(parsing bytes: [UInt8]) throws(MessageParseError) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(MessageParseError) in try Self(parsing: raw) } }
        self = try result.get()
    }

    public func write(into buffer: UnsafeMutableRawBufferPointer) throws(MessageWriteError) {
        guard buffer.count >= Self.byteCount else { throw .bufferTooSmall(needed: Self.byteCount, available: buffer.count) }
        MessageType.writeHeader(.cookieReply, into: buffer)
        buffer.store(receiverIndex, at: 4)
        buffer.store(nonce, at: 8)
        buffer.store(encryptedCookie, at: 32)
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        out.withUnsafeMutableBytes { try! write(into: $0) }  // exactly byteCount long
        return out
    }
}
