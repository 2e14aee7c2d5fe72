// BundleFixture: real extension bundles on disk for tests — built, signed, and tampered with.

import CulvertBundle
import CulvertSystem
import Foundation

public enum BundleFixture {
    /// Writes `<directory>/<identifier>.culvertext` with a manifest and a small executable, and
    /// signs it with `key` (unsigned when nil). `extraFiles` (path in the bundle → text) are added
    /// before signing. Returns the bundle's path.
    @discardableResult
    public static func make(
        in directory: String, identifier: String = "io.culvert.test", version: String = "1.0.0", build: Int = 1,
        capabilities: [BundleCapability] = [], key: SigningKey?, payload: String = "#!/bin/sh\nexit 0\n",
        executableFile: String? = nil, extraFiles: [String: String] = [:], minimumCulvertdVersion: String = "0.1.0",
        taskLimit: Int? = nil, memoryLimit: Int? = nil
    ) throws -> String {
        let bundle = directory + "/" + identifier + BundleFormat.directorySuffix
        try? FileManager.default.removeItem(atPath: bundle)  // absent is the usual case
        try FileManager.default.createDirectory(atPath: bundle + "/bin", withIntermediateDirectories: true)
        guard let semantic = SemanticVersion(version), let minimum = SemanticVersion(minimumCulvertdVersion) else {
            throw BundleError.versionInvalid(text: version)
        }
        let manifest = try BundleManifest(
            identifier: identifier, version: semantic, build: build, executable: "bin/provider",
            displayName: "Test provider \(version)", capabilities: capabilities, minimumCulvertdVersion: minimum,
            taskLimit: taskLimit, memoryLimit: memoryLimit)
        try Data(manifest.encoded()).write(to: URL(fileURLWithPath: bundle + "/" + BundleFormat.manifestFileName))
        if let executableFile {
            try FileManager.default.copyItem(atPath: executableFile, toPath: bundle + "/bin/provider")
        } else {
            try Data(payload.utf8).write(to: URL(fileURLWithPath: bundle + "/bin/provider"))
        }
        try FileSystem.setMode(bundle + "/bin/provider", 0o755)
        try Data("provider documentation\n".utf8).write(to: URL(fileURLWithPath: bundle + "/README"))
        for (relative, text) in extraFiles.sorted(by: { $0.key < $1.key }) {
            try Data(text.utf8).write(to: URL(fileURLWithPath: bundle + "/" + relative))
        }
        if let key { _ = try BundleSigner.sign(directory: bundle, key: key) }
        return bundle
    }

    /// Makes `key` trusted by a daemon whose config directory is `configDirectory`.
    public static func trust(_ key: SigningKey, configDirectory: String, name: String = "publisher") throws {
        let directory = configDirectory + "/trusted-keys"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try key.publisherKey.save(to: directory + "/" + name + ".json")
    }

    /// Writes `<configDirectory>/policy.json`.
    public static func policy(configDirectory: String, requireApproval: Bool = false, developerMode: Bool = false) throws {
        try FileManager.default.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
        let text = #"{"requireApproval": \#(requireApproval), "developerMode": \#(developerMode)}"#
        try Data(text.utf8).write(to: URL(fileURLWithPath: configDirectory + "/policy.json"))
    }

    /// Every file below `root` with its mode and SHA-256-free content digest (the bytes
    /// themselves): equal snapshots mean byte-for-byte equal trees.
    public static func snapshot(_ root: String) -> [String: String] {
        var result: [String: String] = [:]
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return result }
        while let relative = enumerator.nextObject() as? String {
            let path = root + "/" + relative
            let mode = FileSystem.mode(of: path).map { String($0, radix: 8) } ?? "?"
            let content = FileManager.default.contents(atPath: path).map { $0.base64EncodedString() } ?? "<dir>"
            result[relative] = mode + ":" + content
        }
        return result
    }
}
