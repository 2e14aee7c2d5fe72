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
    /// From the first Connect until an explicit Disconnect, nothing leaves but through the
    /// session's TUN, the provider's protected socket, loopback and `killSwitchAllow`.
    public var killSwitch: Bool
    /// The administrator's exceptions to the kill switch: network prefixes (`PrefixText`).
    public var killSwitchAllow: [String]

    public init(
        name: String, extensionIdentifier: String, options: [String: String] = [:], alwaysOn: Bool = false, secretNames: [String] = [],
        killSwitch: Bool = false, killSwitchAllow: [String] = []
    ) {
        self.name = name
        self.extensionIdentifier = extensionIdentifier
        self.options = options
        self.alwaysOn = alwaysOn
        self.secretNames = secretNames
        self.killSwitch = killSwitch
        self.killSwitchAllow = killSwitchAllow
    }

    enum CodingKeys: String, CodingKey {
        case name
        case extensionIdentifier = "extension"
        case options
        case alwaysOn
        case secretNames
        case killSwitch
        case killSwitchAllow
    }

    /// Profiles stored before the kill switch existed have neither field: absent means off.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        extensionIdentifier = try container.decode(String.self, forKey: .extensionIdentifier)
        options = try container.decode([String: String].self, forKey: .options)
        alwaysOn = try container.decode(Bool.self, forKey: .alwaysOn)
        secretNames = try container.decode([String].self, forKey: .secretNames)
        killSwitch = try container.decodeIfPresent(Bool.self, forKey: .killSwitch) ?? false
        killSwitchAllow = try container.decodeIfPresent([String].self, forKey: .killSwitchAllow) ?? []
    }

    /// Writes the kill switch fields only when set, so a profile without one reads as before.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(extensionIdentifier, forKey: .extensionIdentifier)
        try container.encode(options, forKey: .options)
        try container.encode(alwaysOn, forKey: .alwaysOn)
        try container.encode(secretNames, forKey: .secretNames)
        if killSwitch { try container.encode(killSwitch, forKey: .killSwitch) }
        if !killSwitchAllow.isEmpty { try container.encode(killSwitchAllow, forKey: .killSwitchAllow) }
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
    /// Most kill switch exceptions per profile (each is one policy rule per family it names).
    public static let maximumKillSwitchAllow = 64
}

/// Why a profile was refused: which field, and a machine-readable reason.
public struct ProfileValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, Codable {
        case empty
        case tooLong = "too_long"
        case invalidCharacters = "invalid_characters"
        case tooMany = "too_many"
        /// Not a network prefix (kill switch exceptions).
        case invalidPrefix = "invalid_prefix"
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
        guard profile.killSwitchAllow.count <= ProfileLimits.maximumKillSwitchAllow else {
            throw ProfileValidationError(field: "killSwitchAllow", reason: .tooMany)
        }
        for (index, text) in profile.killSwitchAllow.enumerated() where PrefixText(text) == nil {
            throw ProfileValidationError(field: "killSwitchAllow[\(index)]", reason: .invalidPrefix)
        }
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
