// TrustedPublishers: the set of publisher keys whose signatures culvertd accepts.

/// Publisher keys, by fingerprint. Usually loaded from `<config-dir>`'s trusted-keys directory.
public struct TrustedPublishers: Sendable, Equatable {
    /// The keys, sorted by fingerprint.
    public let keys: [PublisherKey]

    public init(_ keys: [PublisherKey]) {
        self.keys = Set(keys).sorted { $0.fingerprint < $1.fingerprint }
    }

    /// Trusts nobody: only unsigned bundles, and only where they are allowed, can verify.
    public static let none = TrustedPublishers([])

    /// The keys in `directory` (see `PublisherKey.loadAll(directory:)`).
    public static func load(directory: String) throws(BundleError) -> TrustedPublishers {
        TrustedPublishers(try PublisherKey.loadAll(directory: directory))
    }

    public func contains(_ key: PublisherKey) -> Bool { keys.contains(key) }

    /// The trusted key with this full fingerprint, if any.
    public func key(fingerprint: String) -> PublisherKey? { keys.first { $0.fingerprint == fingerprint } }
}
