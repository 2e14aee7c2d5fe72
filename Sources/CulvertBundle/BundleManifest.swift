// BundleManifest: what a bundle says about itself (manifest.json), validated field by field.
//
// Strict on purpose: unknown keys, wrong types, non-canonical versions and names outside the
// documented grammar are refused, so the parsed value and the JSON it came from carry exactly
// the same information and a signature over one is a signature over the other.

import CulvertVarlink

/// The validated content of `manifest.json`.
public struct BundleManifest: Sendable, Hashable {
    /// Largest manifest file, in bytes.
    public static let maximumSize: Int64 = 64 << 10
    /// JSON nesting allowed in a manifest: the object and the capabilities array.
    public static let maximumJSONDepth = 2
    /// Longest identifier, in bytes.
    public static let maximumIdentifierLength = 255
    /// Longest label of an identifier, in bytes (as in DNS).
    public static let maximumIdentifierLabelLength = 63
    /// Longest display name, in UTF-8 bytes.
    public static let maximumDisplayNameLength = 128
    /// Largest build number.
    public static let maximumBuild = 4_294_967_295
    /// Most capabilities one manifest may list.
    public static let maximumCapabilities = 32

    /// Reverse-DNS identifier, e.g. `com.example.vpn`; also the bundle directory's name without `.culvertext`.
    public var identifier: String
    public var version: SemanticVersion
    /// Integer build, 0...`maximumBuild`; orders bundles of the same version.
    public var build: Int
    /// Relative path inside the bundle of the provider executable.
    public var executable: String
    /// The name people see.
    public var displayName: String
    /// What the provider can do, without duplicates, in the manifest's order.
    public var capabilities: [BundleCapability]
    /// The oldest culvertd that can run this extension.
    public var minimumCulvertdVersion: SemanticVersion
    /// Tasks (processes and threads) the provider needs at most; nil: culvertd's default.
    public var taskLimit: Int?
    /// Memory bytes the provider needs at most; nil: culvertd's default.
    public var memoryLimit: Int?
    /// Range of `taskLimit`.
    public static let taskLimitRange = 1...65536
    /// Range of `memoryLimit`: 1 MiB to 1 TiB.
    public static let memoryLimitRange = (1 << 20)...(1 << 40)

    /// A manifest from its fields, validated as `parse` validates a file.
    public init(
        identifier: String, version: SemanticVersion, build: Int, executable: String, displayName: String,
        capabilities: [BundleCapability] = [], minimumCulvertdVersion: SemanticVersion, taskLimit: Int? = nil,
        memoryLimit: Int? = nil
    ) throws(BundleError) {
        self.identifier = identifier
        self.version = version
        self.build = build
        self.executable = executable
        self.displayName = displayName
        self.capabilities = capabilities
        self.minimumCulvertdVersion = minimumCulvertdVersion
        self.taskLimit = taskLimit
        self.memoryLimit = memoryLimit
        try validate()
    }

    public var bundleVersion: BundleVersion { BundleVersion(version: version, build: build) }

    /// True if `capabilities` contains `capability`.
    public func supports(_ capability: BundleCapability) -> Bool { capabilities.contains(capability) }

    /// Checks every field against the format's rules; the first violation is thrown.
    public func validate() throws(BundleError) {
        guard Self.isValidIdentifier(identifier) else { throw .identifierInvalid(identifier: identifier) }
        guard (0...Self.maximumBuild).contains(build) else { throw .buildOutOfRange(build: Int64(build)) }
        guard BundlePath.problem(with: executable) == nil, executable != BundleFormat.manifestFileName,
            executable != BundleFormat.signatureFileName
        else { throw .executablePathInvalid(path: executable) }
        try Self.validate(displayName: displayName)
        guard capabilities.count <= Self.maximumCapabilities else {
            throw .manifestWrongType(key: CodingKeys.capabilities.rawValue, expected: "at most \(Self.maximumCapabilities) entries")
        }
        if let taskLimit, !Self.taskLimitRange.contains(taskLimit) {
            throw .numberOutOfRange(key: CodingKeys.taskLimit.rawValue, text: "\(taskLimit)", limit: "\(Self.taskLimitRange)")
        }
        if let memoryLimit, !Self.memoryLimitRange.contains(memoryLimit) {
            throw .numberOutOfRange(key: CodingKeys.memoryLimit.rawValue, text: "\(memoryLimit)", limit: "\(Self.memoryLimitRange)")
        }
        var seen: Set<BundleCapability> = []
        for capability in capabilities where !seen.insert(capability).inserted {
            throw .capabilityDuplicate(name: capability.rawValue)
        }
    }

    /// Reverse-DNS: at least two labels joined by `.`; each 1–63 bytes of `a-z 0-9 -`, not starting
    /// or ending with `-`; the first label starts with a letter. Lowercase only, so two identifiers
    /// never differ by case alone.
    public static func isValidIdentifier(_ identifier: String) -> Bool {
        guard identifier.utf8.count <= maximumIdentifierLength else { return false }
        let labels = identifier.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2, let first = labels.first?.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else {
            return false
        }
        return labels.allSatisfy { label in
            guard !label.isEmpty, label.count <= maximumIdentifierLabelLength, label.first != UInt8(ascii: "-"),
                label.last != UInt8(ascii: "-")
            else { return false }
            return label.allSatisfy {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || $0 == UInt8(ascii: "-")
            }
        }
    }

    /// Non-empty, at most `maximumDisplayNameLength` bytes, no control or invisible formatting
    /// characters (a right-to-left override could make a listing lie), no surrounding whitespace.
    static func validate(displayName: String) throws(BundleError) {
        guard !displayName.isEmpty else { throw .displayNameInvalid(reason: "is empty") }
        guard displayName.utf8.count <= maximumDisplayNameLength else {
            throw .displayNameInvalid(reason: "is longer than \(maximumDisplayNameLength) bytes")
        }
        let forbidden: Set<Unicode.GeneralCategory> = [.control, .format, .lineSeparator, .paragraphSeparator]
        guard !displayName.unicodeScalars.contains(where: { forbidden.contains($0.properties.generalCategory) }) else {
            throw .displayNameInvalid(reason: "contains control or formatting characters")
        }
        let scalars = displayName.unicodeScalars
        // first!/last!: the name is non-empty, checked above.
        guard !scalars.first!.properties.isWhitespace, !scalars.last!.properties.isWhitespace else {
            throw .displayNameInvalid(reason: "has leading or trailing whitespace")
        }
    }

    /// The manifest's keys, as spelled in `manifest.json`.
    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case identifier
        case version
        case build
        case executable
        case displayName
        case capabilities
        case minimumCulvertdVersion
        case taskLimit
        case memoryLimit

        /// Keys a manifest may leave out.
        public static let optional: Set<CodingKeys> = [.taskLimit, .memoryLimit]
    }
}
