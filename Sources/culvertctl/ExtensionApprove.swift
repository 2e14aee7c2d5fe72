// culvertctl extension approve: let profiles use an extension that awaits approval.

import ArgumentParser
import CulvertClient

extension Culvertctl.ExtensionCommand {
    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve an extension that awaits approval.",
            discussion: """
                When culvertd's policy sets requireApproval, a newly installed extension stays in state \
                awaiting_approval, and no profile can use it, until it is approved. Approving an \
                enabled extension changes nothing and succeeds. Needs root: exits 77 otherwise, 66 if \
                no such extension is installed.

                EXAMPLES
                  culvertctl extension approve io.culvert.wireguard
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Identifier of the extension (reverse-DNS).", valueName: "id"))
        var identifier: String

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let approval: ApprovalResult
                do throws(CulvertClientError) { approval = try await client.approveExtension(identifier) } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(approval)
                } else if approval.changed {
                    output.line("approved \(Culvertctl.ExtensionCommand.summary(approval.extensionInfo)), seq \(approval.seq)")
                } else {
                    output.line("unchanged: \(identifier) is \(approval.extensionInfo.state.rawValue), not awaiting approval")
                }
            }
        }
    }
}
