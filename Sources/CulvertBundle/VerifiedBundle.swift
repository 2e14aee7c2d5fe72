// VerifiedBundle: what verification proved about a bundle, for the registry and for listings.

/// Who vouches for a bundle: a publisher key, or nobody (developer mode).
public enum BundlePublisher: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Signed by the key with this fingerprint (64 hex digits).
    case key(fingerprint: String)
    /// No signature; accepted only where unsigned bundles are allowed.
    case unsigned

    /// `unsigned`, or the key's short fingerprint.
    public var description: String {
        switch self {
        case .key(let fingerprint): return String(fingerprint.prefix(16))
        case .unsigned: return "unsigned"
        }
    }

    /// Encoded as one string: the full fingerprint, or `unsigned`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        if text == "unsigned" {
            self = .unsigned
        } else if Hex.isDigest(text) {
            self = .key(fingerprint: text)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "neither a fingerprint nor unsigned: \(text)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wireName)
    }

    /// The full fingerprint or `unsigned`: the encoded form, as registries and the wire carry it.
    public var wireName: String {
        switch self {
        case .key(let fingerprint): return fingerprint
        case .unsigned: return "unsigned"
        }
    }
}

/// One regular file of a verified bundle.
public struct BundleFile: Sendable, Hashable {
    /// Relative to the bundle root.
    public var path: String
    /// SHA-256, lowercase hex.
    public var sha256: String
    public var size: Int64
    /// True if any execute bit was set.
    public var isExecutable: Bool
}

/// A bundle that passed `BundleVerifier.verify`: its manifest, its publisher and its files, as
/// they were when read. Nothing stops the directory changing afterwards; that is why culvertd
/// runs only its own read-only copy, verified in place.
public struct VerifiedBundle: Sendable, Hashable {
    /// The directory that was verified.
    public var path: String
    public var manifest: BundleManifest
    public var publisher: BundlePublisher
    /// The signer's key; nil for an unsigned bundle.
    public var publicKey: PublisherKey?
    /// Every regular file, `signature.json` excluded, sorted by path.
    public var files: [BundleFile]
    /// SHA-256 (hex) of the signed payload (manifest and file hashes): equal digests mean the
    /// same manifest and the same bytes in every file. Defined for unsigned bundles too.
    public var contentDigest: String

    public var isSigned: Bool { publisher != .unsigned }
    public var identifier: String { manifest.identifier }
    public var version: BundleVersion { manifest.bundleVersion }
    /// What contract 6 compares when this bundle is offered for installation.
    public var release: BundleRelease { BundleRelease(identifier: identifier, version: version, publisher: publisher) }
}
