// culvertctl extension upgrade: apply (or with --cancel drop) a staged version of an extension.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl.ExtensionCommand {
    struct Upgrade: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply a staged version of an extension now, or drop it with --cancel.",
            discussion: """
                A newer version installed while sessions ran the extension under an upgrade policy \
                other than now is staged (see `extension policy`). This applies it at once, live, \
                whatever the policy: every session is handed over to the new version (or restarted, \
                without the handover capability) and the command returns when all of them run it. If \
                one fails the old version keeps running and stays installed, the staged version is \
                dropped, and the command exits 1 (upgrade_failed). With --cancel the staged version is \
                dropped instead (event upgrade_cancelled; its copy is left for `extension gc`).

                Needs root: exits 77 otherwise, 66 if no such extension is installed or nothing is \
                staged (no_upgrade_staged), 75 while an upgrade of it is being applied.

                EXAMPLES
                  culvertctl extension upgrade io.culvert.wireguard
                  culvertctl extension upgrade io.culvert.wireguard --cancel
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Identifier of the extension (reverse-DNS).", valueName: "id"))
        var identifier: String

        @Flag(help: "Drop the staged version instead of applying it.")
        var cancel = false

        func run() async throws {
            try await Self.run(identifier: identifier, cancel: cancel, global: global)
        }

        static func run(identifier: String, cancel: Bool, global: GlobalOptions) async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let result: StagedUpgradeResult
                do throws(CulvertClientError) {
                    result = cancel ? try await client.cancelUpgrade(identifier) : try await client.upgradeExtension(identifier)
                } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(result)
                } else if cancel {
                    output.line("cancelled: \(Culvertctl.ExtensionCommand.summary(result.extensionInfo)) runs on, seq \(result.seq)")
                } else {
                    output.line("upgraded to \(Culvertctl.ExtensionCommand.summary(result.extensionInfo)), seq \(result.seq)")
                }
            }
        }
    }

    struct CancelUpgrade: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cancel-upgrade",
            abstract: "Drop a staged version of an extension (the same as `extension upgrade ID --cancel`).",
            discussion: """
                The installed version keeps running and the extension is enabled again; event \
                upgrade_cancelled. The staged copy is left for `extension gc`. Needs root: exits 77 \
                otherwise, 66 if no such extension is installed or nothing is staged.

                EXAMPLES
                  culvertctl extension cancel-upgrade io.culvert.wireguard
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Identifier of the extension (reverse-DNS).", valueName: "id"))
        var identifier: String

        func run() async throws {
            try await Upgrade.run(identifier: identifier, cancel: true, global: global)
        }
    }
}
