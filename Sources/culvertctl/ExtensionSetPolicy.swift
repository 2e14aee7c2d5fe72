// culvertctl extension policy: when newer versions of an extension replace the running one.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl.ExtensionCommand {
    struct SetPolicy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "policy",
            abstract: "Set when newer versions of an extension replace the running one.",
            discussion: """
                An install of a newer version while connected sessions run the extension follows the \
                extension's upgrade policy:
                  now            upgrade every session live at once; the install answers when they \
                run it (the default)
                  when-idle      stage it; upgrade live once no session of the extension has carried \
                traffic for culvertd's --upgrade-idle-interval
                  on-disconnect  stage it; switch once no session runs the extension, so the next \
                Connect runs the new version
                  ask            stage it and publish upgrade_pending; wait for \
                `culvertctl extension upgrade ID`
                  default        follow defaultUpgradePolicy in culvertd's policy.json again
                With no session running the extension an install always applies at once. A staged \
                version is kept in culvertd's registry (it survives a re-exec and a crash), shown as \
                state replacing in `extension show` and `extension list`, and looked at again at once \
                when the policy changes (now applies it). Needs root: exits 77 otherwise, 66 if no \
                such extension is installed, 65 for an unknown policy.

                EXAMPLES
                  culvertctl extension policy io.culvert.wireguard on-disconnect
                  culvertctl extension policy io.culvert.wireguard default
                  culvertctl --json extension policy io.culvert.wireguard ask | jq .extension.effectiveUpgradePolicy
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Identifier of the extension (reverse-DNS).", valueName: "id"))
        var identifier: String

        @Argument(help: ArgumentHelp("now, when-idle, on-disconnect, ask, or default.", valueName: "policy"))
        var policy: String

        func run() async throws {
            let socket = global.socketPath
            let requested = policy
            try await global.run { client, output throws(CommandFailure) in
                var chosen: UpgradePolicy?
                if requested != "default" {
                    guard let parsed = UpgradePolicy(rawValue: requested) else {
                        throw CommandFailure(CulvertClientError.invalidUpgradePolicy(policy: requested), socket: socket)
                    }
                    chosen = parsed
                }
                let result: ApprovalResult
                do throws(CulvertClientError) { result = try await client.setUpgradePolicy(identifier, chosen) } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(result)
                    return
                }
                let description = Culvertctl.ExtensionCommand.policyDescription(result.extensionInfo)
                output.line(
                    result.changed
                        ? "\(identifier): upgrade policy \(description), seq \(result.seq)"
                        : "unchanged: \(identifier) already has upgrade policy \(description)")
                if let staged = result.extensionInfo.staged {
                    output.line("\(staged.versionDescription) is staged (state \(result.extensionInfo.state.rawValue))")
                }
            }
        }
    }
}
