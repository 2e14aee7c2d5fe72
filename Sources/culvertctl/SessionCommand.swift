// culvertctl session: the group of session subcommands, and how sessions are listed.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl {
    struct SessionCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "session",
            abstract: "List tunnel sessions, show one's execution context, read its provider's log.",
            discussion: """
                A session is one activation of a profile's tunnel: `culvertctl connect` starts one, \
                `culvertctl disconnect` ends it. culvertd keeps one per profile, active or ended, \
                since it started, with its last failure.

                States: connecting, connected, reasserting (restarting the provider with the tunnel \
                kept), disconnecting, disconnected, invalid (its profile or extension went away).

                EXAMPLES
                  culvertctl session list
                  culvertctl session show office
                  culvertctl session log office --lines 20
                """,
            subcommands: [List.self, Show.self, Log.self])

        /// Lets global options go here too (`culvertctl session --json list`).
        @OptionGroup var global: GlobalOptions

        /// Rows for the session table: a header, then one row per session.
        static func tableRows(_ sessions: [SessionInfo]) -> [[String]] {
            [["PROFILE", "STATE", "INTERFACE", "ADDRESSES", "RX", "TX", "PID"]]
                + sessions.map { session in
                    [
                        session.profile, session.state.rawValue, session.interface ?? "-",
                        session.addresses.isEmpty ? "-" : session.addresses.joined(separator: ","),
                        SessionDescription.bytes(session.counters.rxBytes), SessionDescription.bytes(session.counters.txBytes),
                        session.pid.map { "\($0)" } ?? "-",
                    ]
                }
        }
    }
}
