// culvertctl connect: start a profile's tunnel.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl {
    struct Connect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Connect a profile: start its tunnel.",
            discussion: """
                Asks culvertd to start the profile's tunnel and, unless --no-wait, waits until it is \
                connected (at most \(CulvertClient.sessionWaitDeadline.components.seconds) s). Then \
                prints the session: its state and why, the TUN interface, the addresses applied, and \
                the provider's pid. Connecting a profile that is already connecting or connected \
                changes nothing. Needs root.

                If the tunnel does not come up, culvertd says why (ConnectFailed): the error line \
                names the reason (start_timeout, provider_exited, provider_crashed, start_failed, \
                spawn_failed, …) and its description, and the provider's last log lines follow it on \
                standard error. With --json that is one JSON error object whose "log" holds the lines.

                With --json, prints {"session": Session, "seq": SEQ}: the io.culvert.Manager Session \
                object and the seq of the event the change produced.

                EXIT STATUS
                  0   connected (or, with --no-wait, connecting)
                  1   the tunnel did not come up (ConnectFailed), or another
                      session already routes all traffic (FullTunnelInUse)
                  65  the profile's extension is not usable yet (ExtensionNotUsable)
                  66  no such profile, or its extension is not installed
                  69  culvertd is not reachable
                  77  permission denied (not root)

                EXAMPLES
                  culvertctl connect office
                  culvertctl connect office --no-wait && culvertctl watch
                  culvertctl connect office --json | jq -r .session.interface
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Name of the profile.", valueName: "profile"))
        var profile: String

        @Flag(name: .customLong("no-wait"), help: "Return at once with the connecting session instead of waiting for connected.")
        var noWait = false

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let change: SessionChange
                do throws(CulvertClientError) { change = try await client.connect(profile: profile, wait: !noWait) } catch {
                    throw CommandFailure(error, socket: socket)
                }
                Culvertctl.print(change, output: output)
            }
        }
    }

    /// What connect and disconnect print: the session's summary (or, with --json, the reply).
    static func print(_ change: SessionChange, output: Output) {
        if output.json {
            output.json(change)
            return
        }
        let session = change.session
        var rows = [["profile", session.profile], ["state", SessionDescription.state(session)]]
        if let interface = session.interface { rows.append(["interface", interface]) }
        if !session.addresses.isEmpty { rows.append(["addresses", session.addresses.joined(separator: ", ")]) }
        if let pid = session.pid { rows.append(["pid", "\(pid)"]) }
        if let failure = session.failure { rows.append(["last failure", SessionDescription.failure(failure)]) }
        rows.append(["seq", "\(change.seq)"])
        output.table(rows)
    }
}
