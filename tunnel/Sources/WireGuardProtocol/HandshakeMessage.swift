// HandshakeMessage: what the initiation and the response share — a fixed length, mac1 and mac2 in
// the last 32 bytes — so CookieGenerator and CookieChecker treat both alike.
import WireGuardCrypto

/// A fixed-size handshake message ending in mac1 then mac2.
public protocol HandshakeMessage: Sendable {
    static var byteCount: Int { get }
    var mac1: MAC16 { get set }
    var mac2: MAC16 { get set }
    /// Writes exactly `byteCount` bytes at the start of `buffer`.
    func write(into buffer: UnsafeMutableRawBufferPointer) throws(MessageWriteError)
    /// Parses exactly `byteCount` bytes; never reads outside `bytes`.
    init(parsing bytes: UnsafeRawBufferPointer) throws(MessageParseError)
}

extension HandshakeMessage {
    static var mac1Offset: Int { byteCount - 2 * MAC16.byteCount }
    static var mac2Offset: Int { byteCount - MAC16.byteCount }

    /// The serialised message in a stack buffer, for computing MACs over it.
    func withSerialized<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(byteCount: Self.byteCount, alignment: 8) { buffer in
            try! write(into: buffer)  // the buffer is exactly byteCount long
            return body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Parses from an array (tests, small callers).
    public init(parsing bytes: [UInt8]) throws(MessageParseError) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(MessageParseError) in try Self(parsing: raw) } }
        self = try result.get()
    }

    /// The wire bytes as a new array.
    public var bytes: [UInt8] { withSerialized { Array($0) } }

    static func checkRoom(_ buffer: UnsafeMutableRawBufferPointer) throws(MessageWriteError) {
        guard buffer.count >= byteCount else { throw .bufferTooSmall(needed: byteCount, available: buffer.count) }
    }
}
