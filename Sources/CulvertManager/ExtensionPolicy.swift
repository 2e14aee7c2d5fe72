// ExtensionPolicy: what the administrator allows, read from <config-dir>/policy.json, and the
// trusted publisher keys in <config-dir>/trusted-keys/. Read at each install so edits apply
// without a restart.

import CulvertBundle
import CulvertCore
import CulvertSystem
import FoundationEssentials

struct ExtensionPolicy: Codable, Equatable {
    static let fileName = "policy.json"
    static let trustedKeysDirectory = "trusted-keys"

    /// Newly installed extensions wait for ApproveExtension before any profile may use them.
    var requireApproval: Bool
    /// Accept unsigned bundles (marked `unsigned` everywhere).
    var developerMode: Bool
    /// Fingerprints allowed to publish; nil means every trusted key.
    var allowedPublishers: [String]?
    /// The upgrade policy of extensions that have none of their own (an unknown value makes the
    /// whole file invalid: PolicyInvalid).
    var defaultUpgradePolicy: UpgradePolicy

    enum CodingKeys: String, CodingKey, CaseIterable {
        case requireApproval, developerMode, allowedPublishers, defaultUpgradePolicy
    }

    static let defaults = ExtensionPolicy(requireApproval: false, developerMode: false, allowedPublishers: nil)

    init(
        requireApproval: Bool, developerMode: Bool, allowedPublishers: [String]?,
        defaultUpgradePolicy: UpgradePolicy = .builtInDefault
    ) {
        self.requireApproval = requireApproval
        self.developerMode = developerMode
        self.allowedPublishers = allowedPublishers
        self.defaultUpgradePolicy = defaultUpgradePolicy
    }

    /// Missing keys take their defaults, so `{"requireApproval": true}` is a whole policy;
    /// unknown keys are refused, so a misspelt setting is an error rather than silently ignored.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        requireApproval = try container.decodeIfPresent(Bool.self, forKey: .requireApproval) ?? Self.defaults.requireApproval
        developerMode = try container.decodeIfPresent(Bool.self, forKey: .developerMode) ?? Self.defaults.developerMode
        allowedPublishers = try container.decodeIfPresent([String].self, forKey: .allowedPublishers)
        defaultUpgradePolicy =
            try container.decodeIfPresent(UpgradePolicy.self, forKey: .defaultUpgradePolicy) ?? Self.defaults.defaultUpgradePolicy
        let known = Set(CodingKeys.allCases.map(\.stringValue))
        let any = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = any.allKeys.first(where: { !known.contains($0.stringValue) }) {
            throw DecodingError.dataCorruptedError(forKey: unknown, in: any, debugDescription: "unknown policy key \(unknown.stringValue)")
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    struct Invalid: Error {
        var path: String
        var description: String
    }

    /// The policy in `configDirectory`, or the defaults when there is no policy file.
    static func load(configDirectory: String) throws(Invalid) -> ExtensionPolicy {
        let path = configDirectory + "/" + fileName
        guard FileSystem.exists(path) else { return .defaults }
        do {
            let bytes = try FileSystem.readFile(path)
            return try JSONDecoder().decode(ExtensionPolicy.self, from: Data(bytes))
        } catch {
            throw Invalid(path: path, description: "\(error)")
        }
    }

    /// Trusted keys; a missing directory trusts nobody.
    static func trust(configDirectory: String) throws(Invalid) -> TrustedPublishers {
        let directory = configDirectory + "/" + trustedKeysDirectory
        guard FileSystem.exists(directory) else { return .none }
        do {
            return try TrustedPublishers.load(directory: directory)
        } catch {
            throw Invalid(path: directory, description: error.description)
        }
    }

    func allows(_ publisher: BundlePublisher) -> Bool {
        switch publisher {
        case .unsigned: return developerMode
        case .key(let fingerprint): return allowedPublishers.map { $0.contains(fingerprint) } ?? true
        }
    }
}
