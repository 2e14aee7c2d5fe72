// culvertctl bundle sign: sign a bundle directory with a publisher key.

import ArgumentParser
import CulvertBundle

extension Culvertctl.BundleCommand {
    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign an extension bundle with a publisher key.",
            discussion: """
                Hashes every file of the bundle directory DIR (<identifier>.culvertext), signs the \
                manifest and the list of hashes with the private key from --key, and writes \
                DIR/signature.json (replacing any previous signature), then verifies the result as \
                culvertd would. Anything culvertd would refuse regardless of the signature (symlinks, \
                hard links, special files, setuid bits, a malformed manifest, an identifier that does \
                not match the directory's name, a missing or non-executable executable) is refused \
                before anything is written: exit 65 with the reason's code. Sign last: any change to \
                the bundle afterwards invalidates the signature.

                The key file must not be readable by group or others (exit 65 otherwise).

                EXAMPLES
                  culvertctl bundle sign --key ~/keys/example.key com.example.vpn.culvertext
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp("The publisher's private key file (from `bundle keygen`).", valueName: "keyfile"))
        var key: String

        @Argument(help: ArgumentHelp("The bundle directory, <identifier>.culvertext.", valueName: "dir"))
        var directory: String

        func run() async throws {
            try await global.run { _, output throws(CommandFailure) in
                let bundle: VerifiedBundle
                do throws(BundleError) {
                    let signingKey = try SigningKey.load(from: key)
                    bundle = try BundleSigner.sign(directory: directory, key: signingKey)
                } catch {
                    throw CommandFailure(error)
                }
                if output.json {
                    output.json(Culvertctl.BundleCommand.Summary(bundle))
                    return
                }
                output.table(
                    Culvertctl.BundleCommand.rows(bundle) + [
                        ["signature", directory + "/" + BundleFormat.signatureFileName]
                    ])
            }
        }
    }
}
