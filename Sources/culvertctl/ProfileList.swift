// culvertctl profile list: every profile, one per row.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl.ProfileCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the profiles.",
            discussion: """
                Prints a table of every profile: name, extension, always-on, number of options and \
                the names of its secrets. With --json, prints an array of io.culvert.Manager Profile objects.

                EXAMPLES
                  culvertctl profile list
                  culvertctl profile list --json | jq -r '.[] | select(.alwaysOn) | .name'
                """)

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let profiles: [Profile]
                do throws(CulvertClientError) { profiles = try await client.profiles() } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(profiles)
                } else if profiles.isEmpty {
                    output.line("no profiles")
                } else {
                    output.table(Culvertctl.ProfileCommand.tableRows(profiles))
                }
            }
        }
    }
}
