// TunnelLab+Hostile: issue 11's attacker in the tunnel lab — culvert-hostile-provider installed as
// its own signed extension (its own identifier, signed with the lab's key) and profiles that run
// it in one attack mode beside the lab's ordinary test-provider session.

import CulvertBundle
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Foundation

extension TunnelLab {
    public static let hostileExtensionIdentifier = "io.culvert.hostileprovider"

    /// Builds a signed bundle of culvert-hostile-provider and installs it.
    public func installHostileProvider() throws {
        let sources = directory.path + "/src-hostile"
        try FileManager.default.createDirectory(atPath: sources, withIntermediateDirectories: true)
        try FileSystem.setMode(sources, 0o755)
        let bundle = try BundleFixture.make(
            in: sources, identifier: Self.hostileExtensionIdentifier, key: signingKey,
            executableFile: Products.path(of: "culvert-hostile-provider"))
        _ = try control.call(ManagerMethod.installExtension.rawValue, ["path": .string(bundle)], timeoutMilliseconds: Self.callMilliseconds)
    }

    /// Saves profile `name` of the hostile provider in `attack` mode with `options` (see HostileProvider).
    public func saveHostileProfile(_ name: String, attack: String, options: [String: String] = [:]) throws {
        var all = options
        all["attack"] = attack
        _ = try control.call(
            ManagerMethod.saveProfile.rawValue,
            [
                "profile": [
                    "name": .string(name), "extension": .string(Self.hostileExtensionIdentifier),
                    "options": .object(all.mapValues { .string($0) }), "alwaysOn": .bool(false),
                ]
            ], timeoutMilliseconds: Self.callMilliseconds)
    }

    /// The GetStatus reply's size in bytes (as encoded on the wire, without the NUL).
    public func statusReplySize() throws -> Int {
        try control.call(ManagerMethod.getStatus.rawValue, [:], timeoutMilliseconds: Self.callMilliseconds).jsonString.utf8.count
    }
}
