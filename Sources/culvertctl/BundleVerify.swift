// culvertctl bundle verify: check a bundle as culvertd would, offline.

import ArgumentParser
import CulvertBundle

extension Culvertctl.BundleCommand {
    struct Verify: AsyncParsableCommand {
        static let defaultTrustedKeys = "/etc/culvert/trusted-keys"

        static let configuration = CommandConfiguration(
            abstract: "Verify an extension bundle without culvertd.",
            discussion: """
                Checks the bundle directory DIR exactly as culvertd checks one before installing it: \
                the tree (no symlinks, hard links, special files, setuid/setgid bits, oversized files), \
                the signature file, that its key is one of the trusted keys, every file against the \
                signed list of hashes, the Ed25519 signature, and the manifest. Prints the identifier, \
                version (build), publisher, files and the verdict.

                Trusted keys are the *.json public key files in --trusted-keys (default \
                \(defaultTrustedKeys), what culvertd trusts by default). An unsigned bundle is invalid \
                unless --allow-unsigned (as in culvertd's developer mode).

                Exits 0 if the bundle is valid, 65 if it is not (the verdict and the error line name \
                a stable reason code, e.g. file_hash_mismatch, untrusted_key, symlink_not_allowed), \
                66 if DIR does not exist.

                EXAMPLES
                  culvertctl bundle verify /opt/example/com.example.vpn.culvertext
                  culvertctl bundle verify com.example.vpn.culvertext --trusted-keys ~/keys
                  culvertctl --json bundle verify "$BUNDLE" | jq -r .valid
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("The bundle directory, <identifier>.culvertext.", valueName: "dir"))
        var directory: String

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Directory of trusted publisher key files (*.json).", discussion: "Default: \(defaultTrustedKeys).", valueName: "dir"))
        var trustedKeys = defaultTrustedKeys

        @Flag(name: .long, help: "Accept a bundle without a signature (culvertd's developer mode).")
        var allowUnsigned = false

        /// The --json verdict: the bundle when valid, the reason when not.
        struct Verdict: Encodable {
            var valid: Bool
            var bundle: Culvertctl.BundleCommand.Summary?
            /// The BundleError code, when invalid.
            var reason: String?
            var description: String?
        }

        func run() async throws {
            try await global.run { _, output throws(CommandFailure) in
                let trust: TrustedPublishers
                do throws(BundleError) {
                    trust = try TrustedPublishers.load(directory: trustedKeys)
                } catch {
                    var failure = CommandFailure(error)
                    failure.code = "trusted_keys_invalid"
                    failure.status = failure.status == .inputRefused ? .failure : failure.status
                    failure.message = "cannot load the trusted keys in \(trustedKeys): \(error.description)"
                    throw failure
                }
                let bundle: VerifiedBundle
                do throws(BundleError) {
                    bundle = try BundleVerifier.verify(directory: directory, trust: trust, allowUnsigned: allowUnsigned)
                } catch {
                    let failure = CommandFailure(error)
                    // A verdict only for refusals of the bundle; a missing bundle or an I/O error is just an error.
                    if failure.status == .inputRefused {
                        if output.json {
                            output.json(Verdict(valid: false, reason: error.code, description: error.description))
                        } else {
                            output.table([["bundle", directory], ["verdict", "INVALID: \(error.description)"]])
                        }
                    }
                    throw failure
                }
                if output.json {
                    output.json(Verdict(valid: true, bundle: Culvertctl.BundleCommand.Summary(bundle)))
                    return
                }
                let verdict = bundle.isSigned ? "valid: signed by a trusted key" : "valid: UNSIGNED (accepted with --allow-unsigned)"
                output.table(Culvertctl.BundleCommand.rows(bundle) + [["verdict", verdict]])
            }
        }
    }
}
