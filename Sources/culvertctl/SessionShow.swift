// culvertctl session show: one session's whole execution context.

import ArgumentParser
import CulvertClient
import CulvertCore
import CulvertSystem

extension Culvertctl.SessionCommand {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one session's execution context.",
            discussion: """
                Prints everything culvertd records about the profile's session: its state and why; \
                the extension and version running it; the provider's pid and uid; who connected it \
                (uid, pid, command) and when it was requested and connected; the TUN interface, MTU, \
                addresses and routes applied; whether it routes all traffic; the DNS servers and how \
                they were applied; traffic counters (binary units and exact bytes and packets); \
                restarts and the next restart of an always-on profile; and the last failure with the \
                provider's log lines at that moment.

                With --json, prints the io.culvert.Manager Session object.

                EXIT STATUS
                  0   shown
                  66  no such profile (ProfileNotFound), or it was not connected since
                      culvertd started (SessionNotFound)
                  69  culvertd is not reachable
                  77  permission denied

                EXAMPLES
                  culvertctl session show office
                  culvertctl session show office --json | jq .counters
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Name of the profile.", valueName: "profile"))
        var profile: String

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let session: SessionInfo
                do throws(CulvertClientError) { session = try await client.session(profile: profile) } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(session)
                } else {
                    output.table(SessionDescription.contextRows(session, readerView: Identity.effectiveUserID != 0))
                }
            }
        }
    }
}
