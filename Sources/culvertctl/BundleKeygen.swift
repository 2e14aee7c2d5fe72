// culvertctl bundle keygen: a new publisher signing key.

import ArgumentParser
import CulvertBundle
import CulvertSystem

extension Culvertctl.BundleCommand {
    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a publisher's Ed25519 signing key.",
            discussion: """
                Writes a new private key to KEYFILE (mode 0600) and its public key file next to it \
                (KEYFILE without its extension, plus .pub.json, unless --public-key says otherwise), \
                and prints the key's fingerprint: the publisher identity culvertd shows for every \
                bundle the key signs. Existing files are never overwritten: a lost or replaced key \
                cannot be recovered, and bundles signed with another key cannot replace the \
                extensions this one published. Missing directories are created with mode 0700.

                Give the public key file to the hosts that should trust the publisher: culvertd reads \
                trusted keys from trusted-keys/*.json in its configuration directory (default \
                /etc/culvert). Keep the private key secret and backed up.

                EXAMPLES
                  culvertctl bundle keygen --output ~/keys/example.key
                  sudo cp ~/keys/example.pub.json /etc/culvert/trusted-keys/example.json
                  culvertctl --json bundle keygen --output release.key | jq -r .fingerprint
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp("Where to write the private key (mode 0600).", valueName: "keyfile"))
        var output: String

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Where to write the public key file.", discussion: "Default: KEYFILE without its extension, plus .pub.json.",
                valueName: "file"))
        var publicKey: String?

        struct Result: Encodable {
            var privateKeyFile: String
            var publicKeyFile: String
            /// 64 hex digits: the publisher identity.
            var fingerprint: String
            var shortFingerprint: String
            /// The raw public key, 64 hex digits.
            var publicKey: String
        }

        var publicKeyPath: String { publicKey ?? Self.defaultPublicKeyPath(for: output) }

        func validate() throws {
            guard !output.isEmpty else { throw ValidationError("--output must not be empty") }
            guard publicKeyPath != output else { throw ValidationError("the public and private key files must differ") }
        }

        func run() async throws {
            let publicPath = publicKeyPath
            try await global.run { _, out throws(CommandFailure) in
                // Both checked before either is written, so a refusal leaves nothing behind.
                for path in [output, publicPath] where FileSystem.exists(path) {
                    throw CommandFailure(BundleError.keyFileExists(path: path))
                }
                // A missing directory (say ~/keys) is made, private like the key it will hold.
                for path in [output, publicPath] {
                    guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { continue }
                    do throws(SystemError) {
                        try FileSystem.createDirectory(String(path[..<slash]), mode: 0o700)
                    } catch {
                        throw CommandFailure(BundleError.io(error))
                    }
                }
                let key = SigningKey.generate()
                do throws(BundleError) {
                    try key.save(to: output)
                } catch {
                    throw CommandFailure(error)
                }
                do throws(BundleError) {
                    try key.publisherKey.save(to: publicPath)
                } catch {
                    var failure = CommandFailure(error)
                    failure.message = "the private key was written to \(output), but the public key was not: \(failure.message)"
                    throw failure
                }
                let publisher = key.publisherKey
                if out.json {
                    out.json(
                        Result(
                            privateKeyFile: output, publicKeyFile: publicPath, fingerprint: publisher.fingerprint,
                            shortFingerprint: publisher.shortFingerprint, publicKey: publisher.hexRepresentation))
                    return
                }
                out.table([
                    ["private key", "\(output)  (mode 0600: keep it secret, back it up)"],
                    ["public key", publicPath],
                    ["fingerprint", publisher.fingerprint],
                    ["short", publisher.shortFingerprint],
                ])
                out.line("to trust this publisher, copy \(publicPath) to trusted-keys/ in culvertd's configuration directory")
            }
        }

        /// `dir/name.key` → `dir/name.pub.json`; `name` → `name.pub.json`.
        static func defaultPublicKeyPath(for keyFile: String) -> String {
            let slash = keyFile.lastIndex(of: "/").map { keyFile.index(after: $0) } ?? keyFile.startIndex
            var base = Substring(keyFile)
            if let dot = keyFile[slash...].lastIndex(of: "."), dot != slash { base = keyFile[..<dot] }
            return base + ".pub.json"
        }
    }
}
