// culvertctl bundle: the publisher's tools — keys, signing and offline verification.

import ArgumentParser
import CulvertBundle

extension Culvertctl {
    struct BundleCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bundle",
            abstract: "Make signing keys, sign extension bundles and verify them, without culvertd.",
            discussion: """
                An extension bundle is a directory <identifier>.culvertext holding manifest.json, the \
                provider executable and its files, and signature.json: an Ed25519 signature over the \
                manifest and the SHA-256 of every file. The publisher is the fingerprint (SHA-256) of \
                the signing key; culvertd accepts a bundle only if that key is among the trusted keys \
                in its configuration directory (default /etc/culvert/trusted-keys/*.json).

                These commands work on files only and never contact culvertd.

                EXAMPLES
                  culvertctl bundle keygen --output ~/keys/example.key
                  culvertctl bundle sign --key ~/keys/example.key com.example.vpn.culvertext
                  culvertctl bundle verify com.example.vpn.culvertext --trusted-keys ~/keys
                """,
            subcommands: [Keygen.self, Sign.self, Verify.self])

        /// Lets global options go here too (`culvertctl bundle --json verify DIR`).
        @OptionGroup var global: GlobalOptions

        /// What `sign` and `verify --json` print about a verified bundle.
        struct Summary: Encodable {
            var path: String
            var identifier: String
            var displayName: String
            var version: String
            var build: Int
            /// Full key fingerprint, or "unsigned".
            var publisher: String
            var signed: Bool
            var capabilities: [String]
            var executable: String
            var files: [File]
            var contentDigest: String

            struct File: Encodable {
                var path: String
                var sha256: String
                var size: Int64
                var executable: Bool
            }

            init(_ bundle: VerifiedBundle) {
                path = bundle.path
                identifier = bundle.identifier
                displayName = bundle.manifest.displayName
                version = "\(bundle.manifest.version)"
                build = bundle.manifest.build
                publisher = bundle.publicKey?.fingerprint ?? "unsigned"
                signed = bundle.isSigned
                capabilities = bundle.manifest.capabilities.map(\.rawValue)
                executable = bundle.manifest.executable
                files = bundle.files.map { File(path: $0.path, sha256: $0.sha256, size: $0.size, executable: $0.isExecutable) }
                contentDigest = bundle.contentDigest
            }
        }

        /// The readable report of a verified bundle: one row per fact, then one per file.
        static func rows(_ bundle: VerifiedBundle) -> [[String]] {
            let manifest = bundle.manifest
            var rows = [
                ["bundle", bundle.path],
                ["identifier", bundle.identifier],
                ["display name", manifest.displayName],
                ["version", "\(bundle.version)"],
                ["publisher", bundle.publicKey?.fingerprint ?? "unsigned"],
                ["capabilities", manifest.capabilities.isEmpty ? "none" : manifest.capabilities.map(\.rawValue).joined(separator: ", ")],
                ["executable", manifest.executable],
                ["files", "\(bundle.files.count)"],
            ]
            let fileRows = bundle.files.map { file in
                [file.path, "\(file.size) bytes", "sha256 \(file.sha256.prefix(16))…", file.isExecutable ? "executable" : ""]
            }
            rows += Output.aligned(fileRows).map { ["", $0.trimmingTrailingSpaces] }
            rows.append(["content digest", bundle.contentDigest])
            return rows
        }
    }
}

extension String {
    fileprivate var trimmingTrailingSpaces: String {
        var text = Substring(self)
        while text.hasSuffix(" ") { text = text.dropLast() }
        return String(text)
    }
}
