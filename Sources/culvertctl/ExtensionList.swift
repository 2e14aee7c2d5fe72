// culvertctl extension list: every installed extension, one per row.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl.ExtensionCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the installed extensions.",
            discussion: """
                Prints a table of every installed extension: identifier, version (build), publisher \
                (the first 16 hex digits of its key fingerprint, or "unsigned"), state, whether it is \
                signed, and the bundle it was installed from. While culvertd's policy is in developer \
                mode (unsigned bundles accepted) a banner above the table says so.

                With --json, prints {"developerMode": BOOL, "extensions": [...]} with \
                io.culvert.Manager Extension objects (full fingerprints).

                EXAMPLES
                  culvertctl extension list
                  culvertctl extension list --json |
                      jq -r '.extensions[] | select(.state=="awaiting_approval") | .identifier'
                """)

        @OptionGroup var global: GlobalOptions

        struct Listing: Encodable {
            var developerMode: Bool
            var extensions: [ExtensionInfo]
        }

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                // GetStatus rather than ListExtensions: the list and the developer-mode flag from one instant.
                let status: ManagerStatus
                do throws(CulvertClientError) { status = try await client.status() } catch { throw CommandFailure(error, socket: socket) }
                if output.json {
                    output.json(Listing(developerMode: status.developerMode, extensions: status.extensions))
                    return
                }
                if status.developerMode { output.line(Culvertctl.ExtensionCommand.developerModeBanner) }
                if status.extensions.isEmpty {
                    output.line("no extensions installed")
                } else {
                    output.table(Culvertctl.ExtensionCommand.tableRows(status.extensions))
                }
            }
        }
    }
}
