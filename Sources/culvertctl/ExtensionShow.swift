// culvertctl extension show: one installed extension in full.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl.ExtensionCommand {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one installed extension.",
            discussion: """
                Prints everything culvertd records about the extension: display name, version (build), \
                the publisher's full key fingerprint, whether it is signed, its state and why, its \
                capabilities, the bundle it was installed from, the read-only copy culvertd runs, the \
                content digest (equal digests mean identical bundles), when it was installed, its \
                upgrade policy (and whether it is its own or policy.json's default), and a staged \
                version waiting for that policy, if there is one. Exits \
                66 if no such extension is installed. With --json, prints the io.culvert.Manager \
                Extension object.

                EXAMPLES
                  culvertctl extension show io.culvert.wireguard
                  culvertctl extension show io.culvert.wireguard --json | jq -r .storePath
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Identifier of the extension (reverse-DNS).", valueName: "id"))
        var identifier: String

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let info: ExtensionInfo
                do throws(CulvertClientError) { info = try await client.extensionInfo(identifier) } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(info)
                    return
                }
                output.table([
                    ["identifier", info.identifier],
                    ["display name", info.displayName],
                    ["version", info.versionDescription],
                    ["publisher", info.publisher],
                    ["signed", info.signed ? "yes" : "NO (accepted in developer mode)"],
                    ["state", "\(info.state.rawValue) (\(info.reason))"],
                    ["capabilities", info.capabilities.isEmpty ? "none" : info.capabilities.joined(separator: ", ")],
                    ["installed from", info.source.isEmpty ? "(root only)" : info.source],
                    ["store copy", info.storePath.isEmpty ? "(root only)" : info.storePath],
                    ["content digest", info.contentDigest],
                    ["installed at", info.installedAt],
                    ["upgrade policy", Culvertctl.ExtensionCommand.policyDescription(info)],
                ])
                if let staged = info.staged {
                    output.table([
                        ["staged version", staged.versionDescription],
                        ["staged from", staged.source.isEmpty ? "(root only)" : staged.source],
                        ["staged copy", staged.storePath.isEmpty ? "(root only)" : staged.storePath],
                        ["staged digest", staged.contentDigest],
                        ["staged at", staged.stagedAt],
                    ])
                    output.line(
                        "apply it now with: culvertctl extension upgrade \(info.identifier); drop it with: culvertctl extension upgrade \(info.identifier) --cancel"
                    )
                }
                if info.state == .awaitingApproval {
                    output.line("approve it with: culvertctl extension approve \(info.identifier)")
                }
            }
        }
    }
}
