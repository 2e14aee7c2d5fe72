// SecretKey: 32 secret bytes (symmetric keys, chaining keys, preshared keys, X25519 scalars) in
// storage that is zeroed when the last copy goes away.
//
// How far zeroing can be guaranteed in Swift: the 32 bytes live in one heap allocation owned by an
// immutable class instance; copies of a SecretKey share it (no byte copies), and its deinit wipes it
// with OPENSSL_cleanse (which the optimiser cannot remove) before freeing. Not covered: bytes a
// caller copies out through `withUnsafeBytes`, `Array`s a caller passed to `init(bytes:)`, and
// transient copies the compiler or a C library leaves in registers or on the stack (BoringSSL and
// libb2 wipe their own contexts; Swift gives no way to wipe spilled registers). A process that can
// read our memory while a key is alive sees it; that is out of scope for any user-space zeroing.

/// 32 secret bytes, wiped when the last copy is released.
public struct SecretKey: Sendable {
    /// The length of every WireGuard key, hash and chaining key.
    public static let byteCount = 32

    let storage: SecretStorage

    /// Copies exactly 32 bytes; anything else is `.wrongLength`.
    public init(bytes: some Collection<UInt8>) throws(CryptoError) {
        guard bytes.count == Self.byteCount else { throw .wrongLength(expected: Self.byteCount, actual: bytes.count) }
        storage = SecretStorage()
        for (offset, byte) in bytes.enumerated() { storage.pointer.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self) }
    }

    /// Copies exactly 32 bytes from raw memory; anything else is `.wrongLength`.
    public init(copying raw: UnsafeRawBufferPointer) throws(CryptoError) {
        guard raw.count == Self.byteCount else { throw .wrongLength(expected: Self.byteCount, actual: raw.count) }
        storage = SecretStorage()
        storage.pointer.copyMemory(from: raw.baseAddress!, byteCount: Self.byteCount)  // count checked: baseAddress is non-nil
    }

    /// Fills fresh storage through `body` (for the KDF, BLAKE2s and X25519 in this package).
    package init(initializingWith body: (UnsafeMutableRawBufferPointer) -> Void) {
        storage = SecretStorage()
        body(UnsafeMutableRawBufferPointer(start: storage.pointer, count: Self.byteCount))
    }

    /// All zeros: WireGuard's "no preshared key".
    public static var zero: SecretKey { SecretKey { $0.initializeMemory(as: UInt8.self, repeating: 0) } }

    /// 32 bytes from `generator` (pass a cryptographically secure one outside tests).
    public static func random(using generator: inout some RandomNumberGenerator) -> SecretKey {
        SecretKey { buffer in
            for word in 0..<(byteCount / 8) {
                buffer.storeBytes(of: generator.next() as UInt64, toByteOffset: word * 8, as: UInt64.self)
            }
        }
    }

    /// Lends the 32 bytes; do not let the pointer escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(UnsafeRawBufferPointer(start: storage.pointer, count: Self.byteCount))
    }

    /// Compares in time independent of where the bytes differ.
    public func constantTimeEquals(_ other: SecretKey) -> Bool {
        withUnsafeBytes { mine in other.withUnsafeBytes { theirs in BoringSSL.constantTimeEquals(mine, theirs) } }
    }

    /// True when all 32 bytes are zero, in constant time.
    public var isZero: Bool {
        withUnsafeBytes { bytes in bytes.reduce(UInt8(0)) { $0 | $1 } == 0 }
    }
}

/// One 32-byte heap allocation, written only while its SecretKey is being initialised, wiped in deinit.
final class SecretStorage: @unchecked Sendable {  // unchecked: the bytes are never written after init returns
    let pointer: UnsafeMutableRawPointer

    init() {
        pointer = UnsafeMutableRawPointer.allocate(byteCount: SecretKey.byteCount, alignment: 8)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: SecretKey.byteCount)
    }

    deinit {
        BoringSSL.wipe(UnsafeMutableRawBufferPointer(start: pointer, count: SecretKey.byteCount))
        pointer.deallocate()
    }
}
