// culvertctl status: the daemon's whole state at one instant.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show culvertd's state: the daemon, its event position, profiles, extensions, sessions and problems.",
            discussion: """
                Prints one consistent view (GetStatus): the daemon's version, pid and start time; its \
                epoch and the seq of the last event the view includes (give both to `watch --since SEQ \
                --epoch EPOCH` to follow changes from exactly this point); every profile and extension; \
                every session (as `session list` shows them); and anything damaged the daemon found \
                and set aside.

                With --json, prints the io.culvert.Manager Status object.

                EXAMPLES
                  culvertctl status
                  culvertctl status --json | jq -r '.profiles[].name'
                """)

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let status: ManagerStatus
                do throws(CulvertClientError) { status = try await client.status() } catch { throw CommandFailure(error, socket: socket) }
                if output.json {
                    output.json(status)
                    return
                }
                let daemon = status.daemon
                output.table([
                    ["daemon", "culvertd \(daemon.version)  pid \(daemon.pid)  started \(daemon.startedAt)"],
                    ["socket", socket],
                    ["epoch", daemon.epoch],
                    ["seq", "\(status.seq)"],
                    ["profiles", status.profiles.isEmpty ? "none" : "\(status.profiles.count)"],
                ])
                if !status.profiles.isEmpty { output.table(ProfileCommand.tableRows(status.profiles), indent: "  ") }
                output.table([
                    [
                        "extensions",
                        status.extensions.isEmpty
                            ? "none" : "\(status.extensions.count)" + (status.developerMode ? "  (developer mode: unsigned accepted)" : ""),
                    ]
                ])
                if !status.extensions.isEmpty {
                    output.table(Culvertctl.ExtensionCommand.tableRows(status.extensions), indent: "  ")
                }
                output.table([["sessions", status.sessions.isEmpty ? "none" : "\(status.sessions.count)"]])
                if !status.sessions.isEmpty {
                    let sessions = status.sessions.sorted { $0.profile < $1.profile }
                    output.table(Culvertctl.SessionCommand.tableRows(sessions), indent: "  ")
                }
                output.table([["problems", status.problems.isEmpty ? "none" : "\(status.problems.count)"]])
                for problem in status.problems {
                    output.line(
                        "  \(problem.kind)  \(problem.path): \(problem.description)" + (problem.movedTo.map { "  (moved to \($0))" } ?? ""))
                }
            }
        }
    }
}
