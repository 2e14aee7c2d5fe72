// BundleManifest+JSON: manifest.json ↔ BundleManifest, with the strict parser and the canonical writer.

import CulvertVarlink

extension BundleManifest {
    /// Parses and validates the bytes of a `manifest.json`.
    ///
    /// Refused: more than `maximumSize` bytes (`manifestTooLarge`); anything the strict JSON
    /// parser refuses, including duplicate keys (`manifestMalformed`); then as `init(json:)`.
    public static func parse(_ bytes: [UInt8]) throws(BundleError) -> BundleManifest {
        guard bytes.count <= maximumSize else { throw .manifestTooLarge(size: Int64(bytes.count), limit: maximumSize) }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes, maximumDepth: maximumJSONDepth)
        } catch {
            throw .manifestMalformed(reason: error.description)
        }
        return try BundleManifest(json: json)
    }

    /// A version that has the grammar's shape (three dot-separated runs of digits without leading
    /// zeros) but a component above `SemanticVersion.maximumComponent` is out of range, not malformed.
    private static func checkComponents(_ text: String, key: CodingKeys) throws(BundleError) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let shaped =
            parts.count == 3
            && parts.allSatisfy { part in
                !part.isEmpty && part.allSatisfy { $0.isASCII && $0.isNumber } && (part.count == 1 || part.first != "0")
            }
        guard shaped else { return }
        throw .numberOutOfRange(key: key.rawValue, text: text, limit: "0...\(SemanticVersion.maximumComponent) per component")
    }

    /// A manifest from parsed JSON. Checked in this order, the first failure thrown: an object;
    /// no unknown key (`manifestUnknownKey`, the first in sorted order); every key present
    /// (`manifestMissingKey`); each value of its JSON type (`manifestWrongType`); the version
    /// strings' grammar; capability names; then `validate()`.
    ///
    /// For every manifest this accepts, `jsonValue` equals `json`.
    public init(json: JSONValue) throws(BundleError) {
        guard let members = json.objectValue else { throw .manifestMalformed(reason: "the manifest is not a JSON object") }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = members.keys.sorted().first(where: { !known.contains($0) }) { throw .manifestUnknownKey(key: unknown) }
        for key in CodingKeys.allCases where members[key.rawValue] == nil && !CodingKeys.optional.contains(key) {
            throw .manifestMissingKey(key: key.rawValue)
        }

        func string(_ key: CodingKeys) throws(BundleError) -> String {
            // members[key]!: every key was checked to be present just above.
            guard let value = members[key.rawValue]!.stringValue else { throw .manifestWrongType(key: key.rawValue, expected: "a string") }
            return value
        }
        let identifier = try string(.identifier)
        let versionText = try string(.version)
        // members[…]!: present, checked above.
        let buildValue = members[CodingKeys.build.rawValue]!
        if case .double(let number) = buildValue, number.isFinite, abs(number) >= 0x1p63 {
            // An integer beyond Int64 (the parser keeps it as a double): the field is right, the number is not.
            throw .numberOutOfRange(key: CodingKeys.build.rawValue, text: "\(number)", limit: "0...\(Self.maximumBuild)")
        }
        guard let build = buildValue.intValue else {
            throw .manifestWrongType(key: CodingKeys.build.rawValue, expected: "an integer")
        }
        let executable = try string(.executable)
        let displayName = try string(.displayName)
        guard let capabilityValues = members[CodingKeys.capabilities.rawValue]!.arrayValue else {  // present, checked above
            throw .manifestWrongType(key: CodingKeys.capabilities.rawValue, expected: "an array of strings")
        }
        let minimumText = try string(.minimumCulvertdVersion)
        func optionalInteger(_ key: CodingKeys) throws(BundleError) -> Int? {
            guard let value = members[key.rawValue] else { return nil }
            if case .double(let number) = value, number.isFinite, abs(number) >= 0x1p63 {
                throw .numberOutOfRange(key: key.rawValue, text: "\(number)", limit: "a 64-bit integer")
            }
            guard let integer = value.intValue else { throw .manifestWrongType(key: key.rawValue, expected: "an integer") }
            guard let exact = Int(exactly: integer) else { throw .numberOutOfRange(key: key.rawValue, text: "\(integer)", limit: "Int") }
            return exact
        }
        let taskLimit = try optionalInteger(.taskLimit)
        let memoryLimit = try optionalInteger(.memoryLimit)

        guard let version = SemanticVersion(versionText) else {
            try Self.checkComponents(versionText, key: .version)
            throw .versionInvalid(text: versionText)
        }
        guard let minimum = SemanticVersion(minimumText) else {
            try Self.checkComponents(minimumText, key: .minimumCulvertdVersion)
            throw .minimumVersionInvalid(text: minimumText)
        }
        guard (0...Int64(Self.maximumBuild)).contains(build) else { throw .buildOutOfRange(build: build) }
        var capabilities: [BundleCapability] = []
        for value in capabilityValues {
            guard let name = value.stringValue else {
                throw .manifestWrongType(key: CodingKeys.capabilities.rawValue, expected: "an array of strings")
            }
            guard let capability = BundleCapability(rawValue: name) else { throw .capabilityUnknown(name: name) }
            capabilities.append(capability)
        }
        try self.init(
            identifier: identifier, version: version, build: Int(build), executable: executable, displayName: displayName,
            capabilities: capabilities, minimumCulvertdVersion: minimum, taskLimit: taskLimit, memoryLimit: memoryLimit)
    }

    /// The manifest as JSON; serialised with `JSONValue.serialized()` it is the canonical encoding
    /// that signatures cover.
    public var jsonValue: JSONValue {
        var members: [String: JSONValue] = [
            CodingKeys.identifier.rawValue: .string(identifier),
            CodingKeys.version.rawValue: .string(version.description),
            CodingKeys.build.rawValue: .int(Int64(build)),
            CodingKeys.executable.rawValue: .string(executable),
            CodingKeys.displayName.rawValue: .string(displayName),
            CodingKeys.capabilities.rawValue: .array(capabilities.map { .string($0.rawValue) }),
            CodingKeys.minimumCulvertdVersion.rawValue: .string(minimumCulvertdVersion.description),
        ]
        if let taskLimit { members[CodingKeys.taskLimit.rawValue] = .int(Int64(taskLimit)) }
        if let memoryLimit { members[CodingKeys.memoryLimit.rawValue] = .int(Int64(memoryLimit)) }
        return .object(members)
    }

    /// Canonical file content: compact JSON with sorted keys, then a newline.
    public func encoded() -> [UInt8] { jsonValue.serialized() + [UInt8(ascii: "\n")] }
}
