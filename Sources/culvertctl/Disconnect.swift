// culvertctl disconnect: stop a profile's tunnel.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl {
    struct Disconnect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disconnect a profile: stop its tunnel.",
            discussion: """
                Asks culvertd to stop the profile's tunnel and take every network setting it applied \
                away again; unless --no-wait, waits until the session is disconnected. An always-on \
                profile stays down until it is connected again. Prints the session's state and why. \
                Needs root.

                With --json, prints {"session": Session, "seq": SEQ}.

                EXIT STATUS
                  0   disconnected (or, with --no-wait, disconnecting)
                  66  no such profile (ProfileNotFound), or it was not connected since
                      culvertd started (SessionNotFound)
                  69  culvertd is not reachable
                  77  permission denied (not root)

                EXAMPLES
                  culvertctl disconnect office
                  culvertctl disconnect office --no-wait
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Name of the profile.", valueName: "profile"))
        var profile: String

        @Flag(name: .customLong("no-wait"), help: "Return at once instead of waiting for disconnected.")
        var noWait = false

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let change: SessionChange
                do throws(CulvertClientError) { change = try await client.disconnect(profile: profile, wait: !noWait) } catch {
                    throw CommandFailure(error, socket: socket)
                }
                Culvertctl.print(change, output: output)
            }
        }
    }
}
