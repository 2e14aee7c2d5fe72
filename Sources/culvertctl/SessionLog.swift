// culvertctl session log: the provider's captured output.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl.SessionCommand {
    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the provider's log of a profile's current or last session.",
            discussion: """
                Prints what the profile's provider wrote to standard output and standard error \
                (GetSessionLog), oldest first, one line each: the last N lines with --lines N, else \
                all culvertd keeps. When older lines exist than those printed, a note on standard \
                error says so. Needs root.

                With --json, prints {"lines": [...], "truncated": BOOL}.

                EXIT STATUS
                  0   printed (possibly nothing)
                  66  no such profile (ProfileNotFound), or it was not connected since
                      culvertd started (SessionNotFound)
                  69  culvertd is not reachable
                  77  permission denied (not root)

                EXAMPLES
                  culvertctl session log office
                  culvertctl session log office --lines 20
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Name of the profile.", valueName: "profile"))
        var profile: String

        @Option(name: .long, help: ArgumentHelp("Print only the last N lines.", valueName: "n"))
        var lines: Int?

        func validate() throws {
            if let lines, lines < 1 { throw ValidationError("--lines must be at least 1") }
        }

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let log: SessionLog
                do throws(CulvertClientError) { log = try await client.sessionLog(profile: profile, limit: lines) } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(log)
                    return
                }
                if log.truncated { output.note("older lines of \(profile)'s log are not shown") }
                for line in log.lines { output.line(line.terminalSafe) }
            }
        }
    }
}
