// culvertctl watch: follow culvertd's event stream, across daemon restarts.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl {
    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print culvertd's events as they happen.",
            discussion: """
                Prints a line per event, e.g.
                  seq 7  profile_saved  demo  (created, by uid 0 pid 1234 culvertctl)
                  seq 9  session_state  demo  connecting -> connected  (provider_started, tun0 10.9.0.2/24, pid 4242)
                  seq 10  session_stats  demo  rx 1.5 MiB (1210 packets)  tx 320.0 KiB (990 packets)
                Without a position it starts with a snapshot of the whole state (seq and epoch of the \
                snapshot line are the position it describes). With --since SEQ --epoch EPOCH it \
                replays the events after SEQ (or, if culvertd no longer holds them or has restarted \
                since, resyncs with a snapshot), then follows live events.

                Connection trouble is not an error: watch prints "interrupted: CAUSE, reconnecting…", \
                retries with backoff, and prints "resumed at seq N" (", replaying M missed") or \
                "resynced from a snapshot (REASON)" once it follows again; every event is printed \
                exactly once, in order. A re-exec of culvertd (`culvertctl daemon reexec`) keeps the \
                connection: watch prints "culvertd going away (reexec), by uid …" and "culvertd back: \
                OLD → NEW (pid N), epoch unchanged" and goes on. It \
                stops only on a condition retrying cannot fix (permission denied: exit 77; the socket \
                is not culvertd's: 69; repeated protocol violations: 1), when interrupted, or after \
                --count events.

                With --json, prints one JSON object per line: {"type":"event","event":{…}}, \
                {"type":"interrupted",…}, {"type":"resumed",…} or {"type":"invalidated",…}.

                EXAMPLES
                  culvertctl watch
                  culvertctl watch --json | jq -c 'select(.type=="event") | .event'
                  culvertctl watch --since 41 --epoch 6f1c0e…  --count 3
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp("Resume after this event seq (needs --epoch).", valueName: "seq"))
        var since: Int64?

        @Option(name: .long, help: ArgumentHelp("The epoch --since belongs to.", valueName: "epoch"))
        var epoch: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Exit after this many change events (snapshots are printed but not counted).", valueName: "n"))
        var count: Int?

        func validate() throws {
            guard (since == nil) == (epoch == nil) else { throw ValidationError("--since and --epoch go together") }
            if let since, since < 0 { throw ValidationError("--since must be 0 or more") }
            if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        }

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let stream = client.watch(since: since, epoch: epoch)
                defer { stream.cancel() }
                var remaining = count
                var position = since
                for await update in stream {
                    output.print(update, after: position)
                    if case .event(let event) = update { position = event.seq }
                    switch update {
                    case .event(let event) where event.kind != .snapshot:
                        if let left = remaining {
                            remaining = left - 1
                            if left == 1 { return }
                        }
                    case .invalidated(let cause, let hint):
                        throw CommandFailure(cause, hint: hint, socket: socket)
                    default:
                        break
                    }
                }
                // The stream ends by itself only after .invalidated (handled above), or on cancellation.
                throw CommandFailure(status: .failure, code: "cancelled", message: "watch was cancelled")
            }
        }
    }
}

extension CommandFailure {
    init(_ cause: WatchInvalidation, hint: String, socket: String) {
        switch cause {
        case .permissionDenied:
            self.init(status: .permissionDenied, code: "permission_denied", message: "watch stopped: \(cause)", hint: hint)
        case .interfaceNotImplemented:
            self.init(status: .unavailable, code: "not_culvertd", message: "watch stopped: \(cause)", hint: hint)
        case .protocolViolations:
            self.init(status: .failure, code: "protocol_violation", message: "watch stopped: \(cause)", hint: hint)
        }
    }
}
