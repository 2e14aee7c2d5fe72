// SemanticVersion: MAJOR.MINOR.PATCH, parsed strictly so every version has exactly one spelling.

/// A version `MAJOR.MINOR.PATCH` of non-negative integers without leading zeros. Pre-release and
/// build-metadata suffixes are not part of the grammar: the bundle's integer `build` plays that role.
public struct SemanticVersion: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Largest value of one component (fits every platform's `UInt32`).
    public static let maximumComponent = 4_294_967_295

    public let major: Int
    public let minor: Int
    public let patch: Int

    /// A version from its components; nil if one is negative or above `maximumComponent`.
    public init?(major: Int, minor: Int, patch: Int) {
        let range = 0...Self.maximumComponent
        guard range.contains(major), range.contains(minor), range.contains(patch) else { return nil }
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `MAJOR.MINOR.PATCH`: exactly three components of ASCII digits, `0` or not starting
    /// with `0`, each at most `maximumComponent`. Anything else (spaces, signs, `v` prefixes,
    /// suffixes) is nil.
    public init?(_ text: String) {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var values: [Int] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 10, part.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                part.count == 1 || part.first != UInt8(ascii: "0")
            else { return nil }
            let value = part.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            values.append(value)
        }
        self.init(major: values[0], minor: values[1], patch: values[2])
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    /// Decodes from the string form; a string that does not parse is a `dataCorrupted` error.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let version = SemanticVersion(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not MAJOR.MINOR.PATCH: \(text)")
        }
        self = version
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
