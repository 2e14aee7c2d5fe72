// Tamperings: ways a bundle offered to culvertd can be wrong. Each takes a freshly made, validly
// signed v2 bundle and returns the path to offer (usually the same bundle, altered).

import CulvertSystem
import CulvertTesting
import Foundation

@testable import CulvertBundle

enum Tamperings {
    struct Context: Sendable {
        var bundle: String
        var directory: String
        var key: SigningKey
        var configDirectory: String
    }

    typealias Tamper = @Sendable (Context) throws -> String

    static func flipByte(_ path: String, at offset: Int = 0) throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[offset] ^= 0x01
        try data.write(to: URL(fileURLWithPath: path))
    }

    static func editJSON(_ path: String, _ edit: (inout [String: Any]) -> Void) throws {
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
        edit(&object)
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
    }

    /// Edits the manifest, then signs the result with the same key without interpreting the
    /// manifest — a correctly signed bundle that is wrong in exactly one way.
    static func resignedManifest(_ c: Context, _ edit: (inout [String: Any]) -> Void) throws -> String {
        try editJSON(c.bundle + "/manifest.json", edit)
        try BundleSigner.sign(directory: c.bundle, key: c.key, checkingManifest: false)
        return c.bundle
    }

    /// Adds `path` to signature.json's file list (the signature itself is left as it was).
    static func listInSignature(_ path: String, _ c: Context) throws -> String {
        try editJSON(c.bundle + "/signature.json") { object in
            var files = object["files"] as? [String: Any] ?? [:]
            files[path] = String(repeating: "0", count: 64)
            object["files"] = files
        }
        return c.bundle
    }

    static func write(_ text: String, _ path: String) throws { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) }

    static let all: [(String, Tamper)] = [
        (
            "bitflip-executable",
            { c in
                try flipByte(c.bundle + "/bin/provider", at: 12)
                return c.bundle
            }
        ),
        (
            "bitflip-manifest",
            { c in
                try flipByte(c.bundle + "/manifest.json", at: 40)
                return c.bundle
            }
        ),
        (
            "bitflip-signature",
            { c in
                try editJSON(c.bundle + "/signature.json") { object in
                    // One digit in the middle, still well-formed: only the Ed25519 check can notice.
                    if var signature = object["signature"] as? String, !signature.isEmpty {
                        let middle = signature.index(signature.startIndex, offsetBy: signature.count / 2)
                        signature.replaceSubrange(middle...middle, with: signature[middle] == "0" ? "1" : "0")
                        object["signature"] = signature
                    }
                }
                return c.bundle
            }
        ),
        (
            "signature-not-json",
            { c in
                try write("{not json", c.bundle + "/signature.json")
                return c.bundle
            }
        ),
        (
            "untrusted-key",
            { c in
                _ = try BundleSigner.sign(directory: c.bundle, key: SigningKey.generate())
                return c.bundle
            }
        ),
        (
            "unsigned",
            { c in
                try FileManager.default.removeItem(atPath: c.bundle + "/signature.json")
                return c.bundle
            }
        ),
        (
            "missing-file",
            { c in
                try FileManager.default.removeItem(atPath: c.bundle + "/README")
                return c.bundle
            }
        ),
        (
            "extra-unsigned-file",
            { c in
                try write("surprise", c.bundle + "/extra")
                return c.bundle
            }
        ),
        (
            "extra-directory",
            { c in
                try FileManager.default.createDirectory(atPath: c.bundle + "/more", withIntermediateDirectories: false)
                return c.bundle
            }
        ),
        (
            "symlink-escaping",
            { c in
                try FileManager.default.createSymbolicLink(atPath: c.bundle + "/bin/shadow", withDestinationPath: "/etc/shadow")
                return c.bundle
            }
        ),
        (
            "symlink-inside",
            { c in
                try FileManager.default.createSymbolicLink(atPath: c.bundle + "/alias", withDestinationPath: "README")
                return c.bundle
            }
        ),
        (
            "hard-link",
            { c in
                try FileManager.default.linkItem(atPath: c.bundle + "/README", toPath: c.bundle + "/README2")
                return c.bundle
            }
        ),
        (
            "setuid",
            { c in
                try FileSystem.setMode(c.bundle + "/bin/provider", 0o4755)
                return c.bundle
            }
        ),
        (
            "setgid",
            { c in
                try FileSystem.setMode(c.bundle + "/bin/provider", 0o2755)
                return c.bundle
            }
        ),
        (
            "sticky-directory",
            { c in
                try FileSystem.setMode(c.bundle + "/bin", 0o1755)
                return c.bundle
            }
        ),
        (
            "device-node",
            { c in
                guard mknod(c.bundle + "/null", mode_t(S_IFCHR) | 0o644, dev_t((1 << 8) | 3)) == 0 else {
                    throw SystemError(call: "mknod", errno: errno)
                }
                return c.bundle
            }
        ),
        (
            "fifo",
            { c in
                guard mkfifo(c.bundle + "/pipe", 0o644) == 0 else { throw SystemError(call: "mkfifo", errno: errno) }
                return c.bundle
            }
        ),
        (
            "socket",
            { c in
                let fd = try UnixSocket.listen(path: c.bundle + "/sock")
                fd.close()
                return c.bundle
            }
        ),
        (
            "identifier-mismatch",
            { c in
                let renamed = c.directory + "/io.culvert.other.culvertext"
                try FileManager.default.moveItem(atPath: c.bundle, toPath: renamed)
                return renamed
            }
        ),
        ("malformed-version", { c in try resignedManifest(c) { $0["version"] = "2.0" } }),
        ("build-out-of-range", { c in try resignedManifest(c) { $0["build"] = -1 } }),
        ("unknown-manifest-key", { c in try resignedManifest(c) { $0["autostart"] = true } }),
        ("unknown-capability", { c in try resignedManifest(c) { $0["capabilities"] = ["root-shell"] } }),
        ("executable-missing", { c in try resignedManifest(c) { $0["executable"] = "bin/nope" } }),
        ("executable-escaping", { c in try resignedManifest(c) { $0["executable"] = "../../bin/sh" } }),
        ("missing-manifest-key", { c in try resignedManifest(c) { $0["displayName"] = nil } }),
        (
            "executable-not-executable",
            { c in
                try FileSystem.setMode(c.bundle + "/bin/provider", 0o644)
                try BundleSigner.sign(directory: c.bundle, key: c.key, checkingManifest: false)
                return c.bundle
            }
        ),
        (
            "oversized-manifest",
            { c in
                try editJSON(c.bundle + "/manifest.json") {
                    $0["displayName"] = String(repeating: "x", count: Int(BundleManifest.maximumSize))
                }
                return c.bundle
            }
        ),
        (
            "parent-reference-in-signature",
            { c in try listInSignature("../outside", c) }
        ),
        (
            "absolute-path-in-signature",
            { c in try listInSignature("/etc/passwd", c) }
        ),
        (
            "oversized-file",
            { c in
                // Sparse: the size is what is checked, and it costs no disk.
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: c.bundle + "/README"))
                try handle.truncate(atOffset: UInt64(BundleLimits.maximumFileSize) + 1)
                try handle.close()
                return c.bundle
            }
        ),
        (
            "too-many-files",
            { c in
                for i in 0...BundleLimits.maximumEntryCount { try write("", c.bundle + "/f\(i)") }
                return c.bundle
            }
        ),
        ("path-not-absolute", { _ in "relative/io.culvert.test.culvertext" }),
        ("path-missing", { c in c.directory + "/absent.culvertext" }),
        ("path-is-a-file", { c in c.bundle + "/README" }),
        (
            "other-publisher",
            { c in
                let other = SigningKey.generate()
                try BundleFixture.trust(
                    other, configDirectory: c.configDirectory, name: "other-\(other.publisherKey.fingerprint.prefix(8))")
                _ = try BundleSigner.sign(directory: c.bundle, key: other)
                return c.bundle
            }
        ),
        (
            "downgrade",
            { c in try BundleFixture.make(in: c.directory, version: "0.9.0", build: 1, key: c.key) }
        ),
    ]
}
