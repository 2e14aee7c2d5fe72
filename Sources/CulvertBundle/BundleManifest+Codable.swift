// BundleManifest+Codable: the manifest for registries and wire replies that use Codable.
// Same keys and the same refusals as the manifest file (unknown keys included).

extension BundleManifest: Codable {
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes and validates; any `BundleError` is the `underlyingError` of a `dataCorrupted` error.
    public init(from decoder: any Decoder) throws {
        let all = try decoder.container(keyedBy: AnyKey.self)
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = all.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            throw Self.corrupted(BundleError.manifestUnknownKey(key: unknown), decoder)
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let identifier = try container.decode(String.self, forKey: .identifier)
        let version = try container.decode(SemanticVersion.self, forKey: .version)
        let build = try container.decode(Int.self, forKey: .build)
        let executable = try container.decode(String.self, forKey: .executable)
        let displayName = try container.decode(String.self, forKey: .displayName)
        let capabilities = try container.decode([BundleCapability].self, forKey: .capabilities)
        let minimum = try container.decode(SemanticVersion.self, forKey: .minimumCulvertdVersion)
        let taskLimit = try container.decodeIfPresent(Int.self, forKey: .taskLimit)
        let memoryLimit = try container.decodeIfPresent(Int.self, forKey: .memoryLimit)
        do {
            try self.init(
                identifier: identifier, version: version, build: build, executable: executable, displayName: displayName,
                capabilities: capabilities, minimumCulvertdVersion: minimum, taskLimit: taskLimit, memoryLimit: memoryLimit)
        } catch {
            throw Self.corrupted(error, decoder)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(identifier, forKey: .identifier)
        try container.encode(version, forKey: .version)
        try container.encode(build, forKey: .build)
        try container.encode(executable, forKey: .executable)
        try container.encode(displayName, forKey: .displayName)
        try container.encode(capabilities, forKey: .capabilities)
        try container.encode(minimumCulvertdVersion, forKey: .minimumCulvertdVersion)
        try container.encodeIfPresent(taskLimit, forKey: .taskLimit)
        try container.encodeIfPresent(memoryLimit, forKey: .memoryLimit)
    }

    private static func corrupted(_ error: BundleError, _ decoder: any Decoder) -> DecodingError {
        .dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description, underlyingError: error))
    }
}
