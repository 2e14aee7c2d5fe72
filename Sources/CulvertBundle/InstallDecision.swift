// InstallDecision: contract 6 — what installing an offered bundle does, given what is installed.

/// The identity a registry keeps of an installed bundle: enough to decide a replacement.
public struct BundleRelease: Sendable, Hashable, Codable {
    public var identifier: String
    public var version: BundleVersion
    public var publisher: BundlePublisher

    public init(identifier: String, version: BundleVersion, publisher: BundlePublisher) {
        self.identifier = identifier
        self.version = version
        self.publisher = publisher
    }

    enum CodingKeys: String, CodingKey {
        case identifier
        case version
        case publisher
    }
}

/// The outcome of offering a bundle for installation (contract 6).
public enum InstallDecision: Sendable, Hashable {
    /// Nothing with this identifier is installed.
    case installed
    /// A newer version (or build) replaces the installed one.
    case replaced
    /// Same version and build: nothing to do.
    case unchanged
    /// Older than what is installed, and downgrades were not allowed.
    case downgradeRefused(installed: BundleVersion, offered: BundleVersion)
    /// Another publisher (or signed vs unsigned) for an installed identifier: always refused;
    /// uninstall first.
    case publisherChangeRefused(installed: BundlePublisher, offered: BundlePublisher)

    /// Decides for `offered` given `installed`, the release registered under the same identifier.
    /// The publisher check comes first: a different publisher is refused whatever the versions.
    /// With `allowDowngrade`, an older version is `replaced`.
    public static func decide(installed: BundleRelease?, offered: BundleRelease, allowDowngrade: Bool) -> InstallDecision {
        guard let installed else { return .installed }
        precondition(installed.identifier == offered.identifier, "InstallDecision.decide compares releases of one identifier")
        guard installed.publisher == offered.publisher else {
            return .publisherChangeRefused(installed: installed.publisher, offered: offered.publisher)
        }
        switch BundleVersion.change(from: installed.version, to: offered.version) {
        case .unchanged: return .unchanged
        case .upgrade: return .replaced
        case .downgrade:
            return allowDowngrade ? .replaced : .downgradeRefused(installed: installed.version, offered: offered.version)
        }
    }
}
