// BundleVersion: what contract 6 compares — the semantic version, then the build.

/// A bundle's version and build. Ordered by version first, then build: `1.2.0 (1)` is newer
/// than `1.1.9 (500)`, and `1.2.0 (2)` is newer than `1.2.0 (1)`.
public struct BundleVersion: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var version: SemanticVersion
    public var build: Int

    public init(version: SemanticVersion, build: Int) {
        self.version = version
        self.build = build
    }

    /// How an offered version relates to an installed one (contract 6).
    public enum Change: String, Sendable, Codable {
        /// Same version and same build.
        case unchanged
        /// The offered version is newer: it replaces the installed one.
        case upgrade
        /// The offered version is older: refused unless downgrades are allowed.
        case downgrade
    }

    /// Compares `offered` with `installed`. Equal version and build is `unchanged` even if the
    /// content differs; a publisher must bump the build to ship different bytes.
    public static func change(from installed: BundleVersion, to offered: BundleVersion) -> Change {
        if offered == installed { return .unchanged }
        return offered > installed ? .upgrade : .downgrade
    }

    public static func < (lhs: BundleVersion, rhs: BundleVersion) -> Bool {
        (lhs.version, lhs.build) < (rhs.version, rhs.build)
    }

    /// `1.2.3 (45)`.
    public var description: String { "\(version) (\(build))" }

    enum CodingKeys: String, CodingKey {
        case version
        case build
    }
}
