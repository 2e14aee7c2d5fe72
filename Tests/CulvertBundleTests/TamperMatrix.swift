// TamperMatrix: every distinct way the tests damage a bundle, each with its own error code.
// `distinct` must never hold two entries with the same code; `alsoRefused` holds damage that is
// refused for a reason some `distinct` entry already shows.

import CulvertSystem
import Foundation

@testable import CulvertBundle

enum TamperMatrix {
    static let manifest = BundleFormat.manifestFileName
    static let signature = BundleFormat.signatureFileName

    static var distinct: [Tampering] {
        [
            // Content changed after signing.
            .afterSigning("bit flip in the executable", "file_hash_mismatch") { try $0.flipBit("bin/provider", byte: 12) },
            .afterSigning("bit flip in the manifest", "manifest_hash_mismatch") { try $0.flipBit(manifest, byte: 20) },
            .afterSigning("bit flip in signature.json's syntax", "signature_malformed") { try $0.flipBit(signature, byte: 0) },
            .afterSigning("signature over a different manifest", "signature_invalid") { fixture in
                let other = BundleFixture.manifestText(["displayName": "\"Evil VPN\""])
                try fixture.writeManifest(other)
                try fixture.editSignature { $0.files[manifest] = BundleFixture.sha256(Array(other.utf8)) }
            },
            .afterSigning("signed by an untrusted key", "untrusted_key") { try $0.sign(with: SigningKey.generate()) },
            .afterSigning("public key of the wrong length", "public_key_invalid") { fixture in
                let hex = fixture.key.publisherKey.hexRepresentation
                try fixture.editSignatureText { $0.replacingOccurrences(of: hex, with: String(hex.dropLast(2))) }
            },
            .afterSigning("signature format from the future", "signature_format_unsupported") { fixture in
                try fixture.editSignatureText { $0.replacingOccurrences(of: "\"format\":1", with: "\"format\":2") }
            },
            .afterSigning("oversized signature file", "signature_too_large") { fixture in
                let padding = [UInt8](repeating: UInt8(ascii: " "), count: Int(BundleSignature.maximumSize))
                try fixture.write(signature, try fixture.read(signature) + padding)
            },
            .afterSigning("signature removed (unsigned, not allowed)", "unsigned_bundle") { try Damage.remove($0.file(signature)) },

            // The file set changed after signing.
            .afterSigning("signed file missing", "file_missing") { try Damage.remove($0.file("share/readme.txt")) },
            .afterSigning("extra unsigned file", "file_not_signed") { try $0.write("share/extra.txt", Array("x".utf8)) },
            .afterSigning("extra empty directory", "directory_not_signed") { try $0.mkdir("share/empty") },
            .afterSigning("`..` entry in the signature's list", "signed_path_parent_reference") { fixture in
                try fixture.editSignature { $0.files["../outside"] = BundleFixture.sha256([]) }
            },
            .afterSigning("absolute path in the signature's list", "signed_path_absolute") { fixture in
                try fixture.editSignature { $0.files["/etc/passwd"] = BundleFixture.sha256([]) }
            },
            .afterSigning("empty component in the signature's list", "signed_path_invalid") { fixture in
                try fixture.editSignature { $0.files["bin//provider"] = BundleFixture.sha256(BundleFixture.executableBytes) }
            },

            // Hostile shapes: refused by the walk, before anything is read (and by stageCopy).
            .afterSigning("symlink escaping the bundle", "symlink_escapes_bundle", structural: true) {
                try Damage.symlink("/etc/passwd", at: $0.file("share/passwd"))
            },
            .afterSigning("symlink inside the bundle", "symlink_not_allowed", structural: true) {
                try Damage.symlink("provider", at: $0.file("bin/alias"))
            },
            .afterSigning("hard link to a file outside", "hard_link_not_allowed", structural: true) {
                try Damage.hardLink($0.file("bin/provider"), at: $0.base + "/outside-link")
            },
            .afterSigning("setuid executable", "setuid_not_allowed", structural: true) {
                try Damage.chmod($0.file("bin/provider"), 0o4755)
            },
            .afterSigning("setgid directory", "setgid_not_allowed", structural: true) { try Damage.chmod($0.file("share"), 0o2755) },
            .afterSigning("sticky directory", "sticky_bit_not_allowed", structural: true) { try Damage.chmod($0.file("share"), 0o1777) },
            .afterSigning("device node", "device_node_not_allowed", structural: true) {
                try Damage.mknodCharacterDevice($0.file("share/null"))
            },
            .afterSigning("FIFO", "fifo_not_allowed", structural: true) { try Damage.mkfifo($0.file("share/fifo")) },
            .afterSigning("socket", "socket_not_allowed", structural: true) { try Damage.socket($0.file("share/sock")) },
            .afterSigning("oversized file (sparse)", "file_too_large", structural: true) {
                try $0.sparseFile("share/big", size: BundleLimits.maximumFileSize + 1)
            },
            .afterSigning("oversized bundle (sparse files)", "bundle_too_large", structural: true) { fixture in
                let each = BundleLimits.maximumFileSize - 1
                for index in 0...Int(BundleLimits.maximumTotalSize / each) { try fixture.sparseFile("share/big\(index)", size: each) }
            },
            .afterSigning("too many files", "too_many_files", structural: true) { fixture in
                for index in 0..<BundleLimits.maximumEntryCount { try fixture.write("share/many/f\(index)", []) }
            },
            .afterSigning("directories nested too deep", "too_deep", structural: true) { fixture in
                try fixture.mkdir((1...BundleLimits.maximumDepth + 1).map { "d\($0)" }.joined(separator: "/"))
            },
            .afterSigning("path too long", "path_too_long", structural: true) { fixture in
                let name = String(repeating: "n", count: 200)
                try fixture.mkdir(Array(repeating: name, count: BundlePath.maximumPathLength / 200 + 1).joined(separator: "/"))
            },
            .afterSigning("file name outside the portable set", "invalid_file_name", structural: true) {
                try $0.write("share/bad\nname", Array("x".utf8))
            },
            .afterSigning("bundle directory replaced by a symlink", "not_a_directory", structural: true) { fixture in
                let moved = fixture.base + "/moved" + BundleFormat.directorySuffix
                try FileSystem.rename(fixture.path, to: moved)
                try Damage.symlink(moved, at: fixture.path)
            },
            .afterSigning("directory not named <identifier>.culvertext", "bundle_name_invalid", structural: true) {
                try $0.rename(to: BundleFixture.identifier)
            },
            .afterSigning("identifier mismatch between directory and manifest", "identifier_mismatch") {
                try $0.rename(to: "com.example.other" + BundleFormat.directorySuffix)
            },

            // The manifest: present, bounded, JSON, and valid field by field (validly signed).
            .afterSigning("manifest removed", "manifest_missing") { try Damage.remove($0.file(manifest)) },
            .afterSigning("oversized manifest", "manifest_too_large") { fixture in
                let padding = [UInt8](repeating: UInt8(ascii: " "), count: Int(BundleManifest.maximumSize))
                try fixture.write(manifest, try fixture.read(manifest) + padding)
            },
            Tampering(name: "manifest not JSON", code: "manifest_malformed", allowUnsigned: true) { fixture in
                try fixture.writeManifest("{\"identifier\": ")
            },
            .signedManifest("malformed version", "version_invalid", ["version": "\"1.2\""]),
            .signedManifest("malformed minimum culvertd version", "minimum_version_invalid", ["minimumCulvertdVersion": "\"v0.1.0\""]),
            .signedManifest("unknown manifest key", "manifest_unknown_key", [:], extra: "\"homepage\": \"https://example.com\""),
            .signedManifest("missing manifest key", "manifest_missing_key", ["build": nil]),
            .signedManifest("build of the wrong type", "manifest_wrong_type", ["build": "\"7\""]),
            .signedManifest("negative build", "build_out_of_range", ["build": "-1"]),
            .signedManifest("uppercase identifier", "identifier_invalid", ["identifier": "\"Com.Example.VPN\""]),
            .signedManifest("display name with a right-to-left override", "display_name_invalid", ["displayName": "\"Example\\u202eNPV\""]),
            .signedManifest("unknown capability", "capability_unknown", ["capabilities": "[\"handover\", \"teleport\"]"]),
            .signedManifest("duplicate capability", "capability_duplicate", ["capabilities": "[\"handover\", \"handover\"]"]),
            .signedManifest("executable outside the bundle", "executable_path_invalid", ["executable": "\"../provider\""]),
            .signedManifest("executable missing", "executable_missing", ["executable": "\"bin/missing\""]),
            .signedManifest("executable is a directory", "executable_not_regular_file", ["executable": "\"bin\""]),
            Tampering(name: "executable without +x", code: "executable_not_executable") { fixture in
                try Damage.chmod(fixture.file("bin/provider"), 0o644)
                try fixture.signUnchecked()
            },
        ]
    }

    /// Damage refused for a reason a `distinct` entry already shows: (name, code, apply).
    static var alsoRefused: [Tampering] {
        [
            .afterSigning("bit flip in the Ed25519 signature", "signature_invalid") { fixture in
                try fixture.editSignature { $0.signature[5] ^= 0x10 }
            },
            .afterSigning("wrong key: signature file names another trusted key", "signature_invalid") { fixture in
                let other = SigningKey.generate().publisherKey
                try fixture.editSignature { $0.publicKey = other }
                try other.save(to: fixture.base + "/other.pub.json")  // trusted below, via trustedKeysDirectory
            },
            .afterSigning("bit flip that breaks the manifest's JSON", "manifest_hash_mismatch") { try $0.flipBit(manifest, byte: 0) },
            .afterSigning("relative symlink climbing out", "symlink_escapes_bundle", structural: true) {
                try Damage.symlink("../../../etc/shadow", at: $0.file("share/shadow"))
            },
            .afterSigning("hard link inside the bundle", "hard_link_not_allowed", structural: true) {
                try Damage.hardLink($0.file("bin/provider"), at: $0.file("bin/provider2"))
            },
            .afterSigning("setuid on the bundle root", "setuid_not_allowed", structural: true) { try Damage.chmod($0.path, 0o4755) },
            .afterSigning("signature.json is a directory", "signature_malformed") { fixture in
                try Damage.remove(fixture.file(signature))
                try fixture.mkdir(signature)
            },
            .afterSigning("extra file in a new directory", "file_not_signed") { try $0.write("extra/payload", Array("x".utf8)) },
            .afterSigning("manifest swapped for another signed bundle's", "manifest_hash_mismatch") { fixture in
                try fixture.writeManifest(BundleFixture.manifestText(["version": "\"9.9.9\""]))
            },
            .afterSigning("bundle deleted", "bundle_not_found") { try Damage.removeDirectory($0.path) },
        ]
    }
}
