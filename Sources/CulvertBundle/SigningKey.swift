// SigningKey: a publisher's Ed25519 private key, kept in a 0600 file.

import Crypto
import CulvertSystem

/// An Ed25519 private key. Holds the 32-byte seed rather than swift-crypto's key type, which is
/// not `Sendable`; the key object is rebuilt for each signature. `description` never shows the seed.
public struct SigningKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let seed: [UInt8]
    /// The matching public key.
    public let publisherKey: PublisherKey

    /// A new random key (the system's CSPRNG, through swift-crypto).
    public static func generate() -> SigningKey {
        // try!: a seed taken from a key swift-crypto just made is always a valid seed.
        try! SigningKey(rawRepresentation: Array(Curve25519.Signing.PrivateKey().rawRepresentation))
    }

    /// The key from its 32-byte seed (RFC 8032's private key). Other lengths are `publicKeyInvalid`.
    public init(rawRepresentation seed: [UInt8]) throws(BundleError) {
        // try?: swift-crypto's only error here is a wrong length, which is what publicKeyInvalid reports.
        guard seed.count == KeyFile.keyByteCount, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed) else {
            throw .publicKeyInvalid
        }
        self.seed = seed
        self.publisherKey = try PublisherKey(rawRepresentation: Array(key.publicKey.rawRepresentation))
    }

    /// The 32-byte seed. Handle with care: it is the publisher's identity.
    public var rawRepresentation: [UInt8] { seed }

    public var description: String { "SigningKey(publisher: \(publisherKey.fingerprint))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["publisherKey": publisherKey]) }

    /// Ed25519 signature of `message` (64 bytes).
    func signature(for message: [UInt8]) -> [UInt8] {
        // try!: the seed was accepted at init, and ED25519_sign fails only if BoringSSL cannot
        // allocate, when nothing else would work either.
        let key = try! Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        return Array(try! key.signature(for: message))
    }

    /// Reads a private key file. Refused: a symlink or unreadable file (`io`), a file any group
    /// or other permission bit is set on (`keyFileInsecure`, as ssh refuses such keys), and a
    /// file that is not a private key file (`keyFileMalformed`).
    public static func load(from path: String) throws(BundleError) -> SigningKey {
        let seed = try KeyFile.read(path, field: .privateKey)
        if let permissions = FileSystem.mode(of: path), permissions & 0o077 != 0 {
            throw .keyFileInsecure(path: path, permissions: permissions)
        }
        do {
            return try SigningKey(rawRepresentation: seed)
        } catch {
            throw .keyFileMalformed(path: path, reason: error.description)
        }
    }

    /// Writes the private key file atomically with mode 0600. An existing file is
    /// `keyFileExists` unless `overwrite`: losing a publisher key cannot be undone.
    public func save(to path: String, overwrite: Bool = false) throws(BundleError) {
        if !overwrite && FileSystem.exists(path) { throw .keyFileExists(path: path) }
        do {
            try FileSystem.writeAtomically(KeyFile.encode(seed, as: .privateKey), to: path, mode: 0o600)
        } catch {
            throw .io(error)
        }
    }
}
