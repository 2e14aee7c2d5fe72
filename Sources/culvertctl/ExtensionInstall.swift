// culvertctl extension install: install a bundle through culvertd, or spool it while culvertd is down.

import ArgumentParser
import CulvertClient
import CulvertCore
import FoundationEssentials

extension Culvertctl.ExtensionCommand {
    struct Install: AsyncParsableCommand {
        static let defaultStateDirectory = "/var/lib/culvert"

        static let configuration = CommandConfiguration(
            abstract: "Install an extension bundle (spooled if culvertd is not running).",
            discussion: """
                Asks culvertd to install the bundle directory PATH, <identifier>.culvertext (a relative \
                path is taken from the current directory). culvertd verifies the bundle against the \
                trusted publisher keys in its configuration directory, copies it into its state \
                directory, verifies the copy and registers it. It answers one of:
                  installed  nothing of this identifier was installed
                  replaced   a newer version from the same publisher replaced the installed one
                  unchanged  this version and build are already installed; nothing happened
                  staged     sessions run the extension and its upgrade policy is not now: the new \
                version waits (state replacing) until the policy lets it in; see `extension policy`
                An older version is refused unless --allow-downgrade; another publisher's bundle for an \
                installed identifier is always refused. If the policy requires approval, a new \
                extension stays awaiting_approval until `culvertctl extension approve`.

                If culvertd is not running (its socket is missing or nobody listens on it), the request \
                is written to DIR/spool/ (--state-dir, which must be culvertd's) and the command \
                succeeds: culvertd applies spooled installs when it starts, with the same events, or \
                an extension_install_failed event if it refuses one. A package's postinst can rely on this.

                Exits 65 if the bundle is refused (the message names a stable reason such as \
                file_hash_mismatch, untrusted_key or unsigned_bundle) or is an unallowed downgrade or \
                publisher change, 77 if not run as root.

                EXAMPLES
                  culvertctl extension install /opt/example/com.example.vpn.culvertext
                  culvertctl extension install ./com.example.vpn.culvertext --allow-downgrade
                  culvertctl --json extension install "$BUNDLE" | jq -r .result
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("The bundle directory, <identifier>.culvertext.", valueName: "path"))
        var path: String

        @Flag(name: .long, help: "Install even if the bundle is older than the installed version.")
        var allowDowngrade = false

        @Option(
            name: .long,
            help: ArgumentHelp(
                "culvertd's state directory, where the request is spooled if culvertd is not running.",
                discussion: "Default: \(defaultStateDirectory).", valueName: "dir"))
        var stateDir = defaultStateDirectory

        /// The --json form of a spooled install.
        struct Spooled: Encodable {
            var result = "spooled"
            var spoolFile: String
            var request: SpoolRequest
        }

        func run() async throws {
            let socket = global.socketPath
            let bundle = Self.absolute(path)
            try await global.run { client, output throws(CommandFailure) in
                let outcome: InstallRequestOutcome
                do throws(CulvertClientError) {
                    outcome = try await client.installExtensionOrSpool(
                        path: bundle, allowDowngrade: allowDowngrade, stateDirectory: stateDir)
                } catch {
                    throw CommandFailure(error, socket: socket)
                }
                switch outcome {
                case .applied(let result):
                    output.print(result)
                case .spooled(let spooled):
                    if output.json {
                        output.json(Spooled(spoolFile: spooled.file, request: spooled.request))
                    } else {
                        output.line("culvertd is not running; the install was spooled and will be applied when it starts")
                        output.line("spool file: \(spooled.file)")
                    }
                }
            }
        }

        /// `path` as an absolute path without `.`/`..` components or a trailing slash: culvertd
        /// needs an absolute path, and records it as where the extension was installed from.
        static func absolute(_ path: String) -> String {
            let base = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
            return URL(fileURLWithPath: base).standardized.path
        }
    }
}

extension Output {
    /// `installed io.culvert.wireguard 1.0.0 (1), enabled, seq 5`, and what to do next if anything.
    func print(_ result: InstallResult) {
        if json {
            json(result)
            return
        }
        let info = result.extensionInfo
        switch result.result {
        case .installed: line("installed \(Culvertctl.ExtensionCommand.summary(info)), seq \(result.seq)")
        case .replaced: line("replaced with \(Culvertctl.ExtensionCommand.summary(info)), seq \(result.seq)")
        case .unchanged: line("unchanged: \(info.identifier) \(info.versionDescription) is already installed")
        case .staged:
            let staged = info.staged?.versionDescription ?? "?"
            let policy = info.effectiveUpgradePolicy?.rawValue ?? "?"
            line(
                "staged \(info.identifier) \(staged) (upgrade policy \(policy)); \(info.versionDescription) runs until then, seq \(result.seq)"
            )
            if info.effectiveUpgradePolicy == .ask { line("apply it with: culvertctl extension upgrade \(info.identifier)") }
        }
        if info.state == .awaitingApproval {
            line("\(info.identifier) awaits approval: culvertctl extension approve \(info.identifier)")
        }
    }
}
