// PublisherKey: a publisher's Ed25519 public key, and the fingerprint that names the publisher.

import Crypto
import CulvertSystem

/// An Ed25519 public key. Its `fingerprint` is the publisher ("team") identity of every bundle
/// it signs: two bundles have the same publisher exactly when their keys are byte-identical.
public struct PublisherKey: Sendable, Hashable, CustomStringConvertible {
    /// The 32 bytes of the key (RFC 8032 encoding).
    public let rawRepresentation: [UInt8]
    /// SHA-256 of `rawRepresentation`, 64 lowercase hex digits.
    public let fingerprint: String

    /// Refuses anything but 32 bytes that swift-crypto accepts as an Ed25519 public key (`publicKeyInvalid`).
    public init(rawRepresentation: [UInt8]) throws(BundleError) {
        // try?: swift-crypto's only error here is "not a key", which is what publicKeyInvalid reports.
        guard rawRepresentation.count == KeyFile.keyByteCount,
            (try? Curve25519.Signing.PublicKey(rawRepresentation: rawRepresentation)) != nil
        else { throw .publicKeyInvalid }
        self.rawRepresentation = rawRepresentation
        self.fingerprint = Hex.sha256(rawRepresentation)
    }

    /// The key from 64 lowercase hex digits.
    public init(hex: String) throws(BundleError) {
        guard let raw = Hex.decode(hex, byteCount: KeyFile.keyByteCount) else { throw .publicKeyInvalid }
        try self.init(rawRepresentation: raw)
    }

    /// The key as 64 lowercase hex digits, as signature and key files hold it.
    public var hexRepresentation: String { Hex.encode(rawRepresentation) }

    /// The first 16 hex digits of the fingerprint (64 bits): for listings and logs, where the
    /// full 64 do not fit. A prefix rather than another encoding, so it can be searched for in
    /// the full form. Never use it to decide trust.
    public var shortFingerprint: String { String(fingerprint.prefix(16)) }

    public var description: String { shortFingerprint }

    /// True if `signature` is this key's Ed25519 signature of `message`.
    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        // try?: the raw bytes were accepted by this same initialiser in init, so it cannot fail here.
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: rawRepresentation) else { return false }
        return key.isValidSignature(signature, for: message)
    }

    /// Reads a public key file (`{"algorithm":"ed25519","format":1,"publicKey":"…"}`); a symlink is refused.
    public static func load(from path: String) throws(BundleError) -> PublisherKey {
        let raw = try KeyFile.read(path, field: .publicKey)
        do {
            return try PublisherKey(rawRepresentation: raw)
        } catch {
            throw .keyFileMalformed(path: path, reason: error.description)
        }
    }

    /// Every key in `directory`: each regular file whose name ends in `.json` and does not start
    /// with `.`; other names are ignored (READMEs, editor backups). A missing directory holds no
    /// keys. Any key file that does not load fails the whole load, so a damaged trust store is
    /// noticed rather than silently trusting less.
    public static func loadAll(directory: String) throws(BundleError) -> [PublisherKey] {
        let names: [String]
        do {
            names = try FileSystem.listDirectory(directory)
        } catch {
            if error.errno == Syscall.ENOENT { return [] }
            throw .io(error)
        }
        var keys: [PublisherKey] = []
        for name in names where name.hasSuffix(".json") && !name.hasPrefix(".") {
            keys.append(try load(from: directory + "/" + name))
        }
        return keys
    }

    /// Writes the public key file atomically, mode 0644.
    public func save(to path: String) throws(BundleError) {
        do {
            try FileSystem.writeAtomically(KeyFile.encode(rawRepresentation, as: .publicKey), to: path, mode: 0o644)
        } catch {
            throw .io(error)
        }
    }
}
