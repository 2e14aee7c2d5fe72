// culvertctl session list: every session, one per row.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl.SessionCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the sessions.",
            discussion: """
                Prints a table of every session culvertd knows (active, or ended since it started): \
                profile, state, TUN interface, addresses, bytes received and sent (binary units), and \
                the provider's pid. Prints "no sessions" when there are none.

                With --json, prints {"sessions": [...]} with io.culvert.Manager Session objects.

                EXAMPLES
                  culvertctl session list
                  culvertctl session list --json | jq -r '.sessions[] | select(.state=="connected") | .profile'
                """)

        @OptionGroup var global: GlobalOptions

        struct Listing: Encodable {
            var sessions: [SessionInfo]
        }

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let sessions: [SessionInfo]
                do throws(CulvertClientError) { sessions = try await client.sessions() } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(Listing(sessions: sessions))
                } else if sessions.isEmpty {
                    output.line("no sessions")
                } else {
                    output.table(Culvertctl.SessionCommand.tableRows(sessions))
                }
            }
        }
    }
}
