// BundleSignature: signature.json — who signed, the SHA-256 of every other file, and the Ed25519
// signature over the domain prefix and the canonical encoding of the manifest and that list.

import Crypto
import CulvertVarlink

/// The parsed content of `signature.json`. Parsing checks the shape and the paths; whether the
/// signature verifies, and whether the files match, is `BundleVerifier`'s business.
public struct BundleSignature: Sendable, Equatable {
    /// Largest signature file, in bytes: room for `BundleLimits.maximumEntryCount` full-length paths.
    public static let maximumSize: Int64 = 2 << 20
    /// JSON nesting in a signature file: the object and the files object.
    public static let maximumJSONDepth = 2
    /// Length of an Ed25519 signature, in bytes.
    public static let signatureByteCount = 64

    /// The signer's public key; its fingerprint is the bundle's publisher.
    public var publicKey: PublisherKey
    /// SHA-256 (lowercase hex) of every file but `signature.json`, by relative path.
    public var files: [String: String]
    /// Ed25519 over `payload(manifest:files:)`.
    public var signature: [UInt8]

    public init(publicKey: PublisherKey, files: [String: String], signature: [UInt8]) {
        self.publicKey = publicKey
        self.files = files
        self.signature = signature
    }

    /// The signed bytes: `BundleFormat.signatureDomain`, then the compact sorted-key JSON of
    /// `{"files": {path: sha256, …}, "manifest": <manifest>}`. Paths are ASCII (see
    /// `BundlePath`), so sorted keys are byte-sorted.
    public static func payload(manifest: JSONValue, files: [String: String]) -> [UInt8] {
        let body: JSONValue = ["files": .object(files.mapValues { .string($0) }), "manifest": manifest]
        return Array(BundleFormat.signatureDomain.utf8) + body.serialized()
    }

    /// Signs `manifest` (the parsed manifest.json) and `files` with `key`.
    static func make(manifest: JSONValue, files: [String: String], key: SigningKey) -> BundleSignature {
        let signature = key.signature(for: payload(manifest: manifest, files: files))
        return BundleSignature(publicKey: key.publisherKey, files: files, signature: signature)
    }

    /// True if `signature` is `publicKey`'s signature of this list with `manifest`.
    public func isValid(manifest: JSONValue) -> Bool {
        publicKey.isValidSignature(signature, for: Self.payload(manifest: manifest, files: files))
    }

    /// Canonical file content: compact JSON with sorted keys, then a newline.
    public func encoded() -> [UInt8] {
        let value: JSONValue = [
            "files": .object(files.mapValues { .string($0) }),
            "format": .int(BundleFormat.signatureFormatVersion),
            "publicKey": .string(publicKey.hexRepresentation),
            "signature": .string(Hex.encode(signature)),
        ]
        return value.serialized() + [UInt8(ascii: "\n")]
    }

    /// Parses a `signature.json`. Refused, first found first: over `maximumSize`
    /// (`signatureTooLarge`); not strict JSON, not an object, `format` missing or not an integer
    /// (`signatureMalformed`); another `format` (`signatureFormatUnsupported`); keys other than
    /// exactly `files`, `format`, `publicKey`, `signature` (`signatureMalformed`); a public key
    /// that is not 64 hex digits of an Ed25519 key (`publicKeyInvalid`); a signature that is not
    /// 128 hex digits, a file list that is not an object of at most `BundleLimits.maximumEntryCount`
    /// SHA-256 hex strings (`signatureMalformed`); then, in sorted order, each listed path: absolute
    /// (`signedPathAbsolute`), containing `..` (`signedPathParentReference`), otherwise outside
    /// `BundlePath`'s grammar or naming `signature.json` (`signedPathInvalid`).
    public static func parse(_ bytes: [UInt8]) throws(BundleError) -> BundleSignature {
        guard bytes.count <= maximumSize else { throw .signatureTooLarge(size: Int64(bytes.count), limit: maximumSize) }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes, maximumDepth: maximumJSONDepth)
        } catch {
            throw .signatureMalformed(reason: error.description)
        }
        guard let members = json.objectValue else { throw .signatureMalformed(reason: "not a JSON object") }
        guard let format = members["format"]?.intValue else { throw .signatureMalformed(reason: "format must be an integer") }
        guard format == BundleFormat.signatureFormatVersion else { throw .signatureFormatUnsupported(format: format) }
        let expected: Set<String> = ["files", "format", "publicKey", "signature"]
        guard Set(members.keys) == expected else {
            throw .signatureMalformed(reason: "expected exactly the keys \(expected.sorted().joined(separator: ", "))")
        }
        guard let keyText = members["publicKey"]?.stringValue else { throw .publicKeyInvalid }
        let publicKey = try PublisherKey(hex: keyText)
        guard let signatureText = members["signature"]?.stringValue,
            let signature = Hex.decode(signatureText, byteCount: signatureByteCount)
        else { throw .signatureMalformed(reason: "signature must be \(signatureByteCount * 2) lowercase hex digits") }
        guard let list = members["files"]?.objectValue else { throw .signatureMalformed(reason: "files must be an object") }
        guard list.count <= BundleLimits.maximumEntryCount else {
            throw .signatureMalformed(reason: "more than \(BundleLimits.maximumEntryCount) files")
        }
        var files: [String: String] = [:]
        for path in list.keys.sorted() {
            switch BundlePath.problem(with: path) {
            case .absolute: throw .signedPathAbsolute(path: path)
            case .parentReference: throw .signedPathParentReference(path: path)
            case .invalid: throw .signedPathInvalid(path: path)
            case nil: break
            }
            guard path != BundleFormat.signatureFileName else { throw .signedPathInvalid(path: path) }
            // list[path]!: path comes from list.keys.
            guard let digest = list[path]!.stringValue, Hex.isDigest(digest) else {
                throw .signatureMalformed(reason: "the hash of \(path) must be 64 lowercase hex digits")
            }
            files[path] = digest
        }
        return BundleSignature(publicKey: publicKey, files: files, signature: signature)
    }
}
