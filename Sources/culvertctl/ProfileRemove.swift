// culvertctl profile remove: delete a profile and its secrets.

import ArgumentParser
import CulvertClient

extension Culvertctl.ProfileCommand {
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a profile and its secrets.",
            discussion: """
                The removal is durable on disk before culvertd replies. Exits 66 if there is no such \
                profile, 77 if not run as root.

                EXAMPLES
                  culvertctl profile remove office
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Name of the profile.")
        var name: String

        struct Result: Encodable {
            var name: String
            var seq: Int64
        }

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let seq: Int64
                do throws(CulvertClientError) { seq = try await client.removeProfile(named: name) } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(Result(name: name, seq: seq))
                } else {
                    output.line("removed \(name), seq \(seq)")
                }
            }
        }
    }
}
