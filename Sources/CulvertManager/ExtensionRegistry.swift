// ExtensionRegistry: which extensions are installed, in which state, and where their verified
// copies are — one file, <state-dir>/extensions/registry.json, replaced atomically on every
// change, so a crash leaves the old or the new registry and never a torn one.

import CulvertCore
import CulvertSystem
import FoundationEssentials

struct ExtensionRegistry: Codable, Equatable {
    static let currentFormat = 1
    var format = currentFormat
    /// By identifier.
    var extensions: [String: ExtensionInfo] = [:]

    enum CodingKeys: String, CodingKey {
        case format, extensions
    }

    var sorted: [ExtensionInfo] { extensions.keys.sorted().compactMap { extensions[$0] } }

    /// Content digests still referenced: their store copies must stay.
    /// A staged version's copy counts: it is what the extension will run.
    var referencedDigests: Set<String> {
        Set(extensions.values.map(\.contentDigest) + extensions.values.compactMap { $0.staged?.contentDigest })
    }

    static func load(path: String) throws -> ExtensionRegistry {
        guard FileSystem.exists(path) else { return ExtensionRegistry() }
        let registry = try JSONDecoder().decode(ExtensionRegistry.self, from: Data(try FileSystem.readFile(path)))
        guard registry.format == currentFormat else { throw ProfileStore.DecodeProblem("unknown registry format \(registry.format)") }
        return registry
    }

    func save(path: String) throws(SystemError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        // Plain strings, integers and arrays: encoding cannot fail.
        try FileSystem.writeAtomically(Array(try! encoder.encode(self)) + [0x0A], to: path, mode: 0o644)
    }
}
