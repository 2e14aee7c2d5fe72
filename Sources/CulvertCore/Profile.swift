// Profile: a named tunnel configuration — which extension to run and with which options.

/// A tunnel profile as stored and as reported. Secrets are held apart (`ProfileSecrets`) and
/// are never part of this type, so no reply can carry them by accident.
public struct Profile: Codable, Sendable, Equatable {
    public var name: String
    /// The extension identifier (reverse-DNS) this profile runs.
    public var extensionIdentifier: String
    public var options: [String: String]
    public var alwaysOn: Bool
    /// Names of the secrets stored for the profile; the values are write-only.
    public var secretNames: [String]

    public init(
        name: String, extensionIdentifier: String, options: [String: String] = [:], alwaysOn: Bool = false, secretNames: [String] = []
    ) {
        self.name = name
        self.extensionIdentifier = extensionIdentifier
        self.options = options
        self.alwaysOn = alwaysOn
        self.secretNames = secretNames
    }

    enum CodingKeys: String, CodingKey {
        case name
        case extensionIdentifier = "extension"
        case options
        case alwaysOn
        case secretNames
    }
}

/// Limits on what a profile may hold; enforced by `ProfileValidation`.
public enum ProfileLimits {
    public static let maximumNameLength = 64
    public static let maximumExtensionIdentifierLength = 255
    public static let maximumOptions = 256
    public static let maximumOptionKeyLength = 128
    public static let maximumOptionValueLength = 4096
    public static let maximumSecrets = 64
    public static let maximumSecretLength = 65536
}

/// Why a profile was refused: which field, and a machine-readable reason.
public struct ProfileValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, Codable {
        case empty
        case tooLong = "too_long"
        case invalidCharacters = "invalid_characters"
        case tooMany = "too_many"
    }
    public var field: String
    public var reason: Reason
    public init(field: String, reason: Reason) {
        self.field = field
        self.reason = reason
    }
    public var description: String { "\(field): \(reason.rawValue)" }
}

public enum ProfileValidation {
    /// Profile names become file names: letters, digits, `.`, `_`, `-`; not starting with `.` or `-`.
    public static func validate(name: String) throws(ProfileValidationError) {
        guard !name.isEmpty else { throw ProfileValidationError(field: "name", reason: .empty) }
        guard name.utf8.count <= ProfileLimits.maximumNameLength else {
            throw ProfileValidationError(field: "name", reason: .tooLong)
        }
        let allowed = name.utf8.allSatisfy {
            isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
        guard allowed, let first = name.utf8.first, isAlphanumeric(first) else {
            throw ProfileValidationError(field: "name", reason: .invalidCharacters)
        }
    }

    /// Reverse-DNS as bundle identifiers are (docs/BUNDLES.md): at least two dot-separated labels
    /// of lowercase letters, digits and `-`, so a profile can only name an identifier a bundle can have.
    public static func validate(extensionIdentifier id: String) throws(ProfileValidationError) {
        guard !id.isEmpty else { throw ProfileValidationError(field: "extension", reason: .empty) }
        guard id.utf8.count <= ProfileLimits.maximumExtensionIdentifierLength else {
            throw ProfileValidationError(field: "extension", reason: .tooLong)
        }
        let labels = id.split(separator: ".", omittingEmptySubsequences: false)
        let valid =
            labels.count >= 2
            && labels.allSatisfy { label in
                !label.isEmpty
                    && label.utf8.allSatisfy {
                        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                            || $0 == UInt8(ascii: "-")
                    }
            }
        guard valid else { throw ProfileValidationError(field: "extension", reason: .invalidCharacters) }
    }

    public static func validate(profile: Profile, secrets: [String: String]?) throws(ProfileValidationError) {
        try validate(name: profile.name)
        try validate(extensionIdentifier: profile.extensionIdentifier)
        try validate(
            map: profile.options, field: "options", maximumCount: ProfileLimits.maximumOptions,
            maximumValueLength: ProfileLimits.maximumOptionValueLength)
        if let secrets {
            try validate(
                map: secrets, field: "secrets", maximumCount: ProfileLimits.maximumSecrets,
                maximumValueLength: ProfileLimits.maximumSecretLength)
        }
    }

    private static func validate(map: [String: String], field: String, maximumCount: Int, maximumValueLength: Int)
        throws(ProfileValidationError)
    {
        guard map.count <= maximumCount else { throw ProfileValidationError(field: field, reason: .tooMany) }
        for (key, value) in map {
            guard !key.isEmpty else { throw ProfileValidationError(field: "\(field).", reason: .empty) }
            guard key.utf8.count <= ProfileLimits.maximumOptionKeyLength else {
                throw ProfileValidationError(field: "\(field).\(key.prefix(32))", reason: .tooLong)
            }
            guard value.utf8.count <= maximumValueLength else {
                throw ProfileValidationError(field: "\(field).\(key)", reason: .tooLong)
            }
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
