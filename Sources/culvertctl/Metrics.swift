// culvertctl metrics: culvertd's counters and gauges in the Prometheus text format.

import ArgumentParser
import CulvertClient

extension Culvertctl {
    struct Metrics: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print culvertd's metrics in the Prometheus text format.",
            discussion: """
                Calls GetMetrics and prints every culvert_* series in the Prometheus text \
                exposition format (version 0.0.4), as node_exporter's textfile collector or \
                `promtool check metrics` read it: per session (label profile) bytes and packets \
                each way, restarts, connect duration, the provider's tasks, memory and refused \
                calls; for the daemon its version, start time, events and ring use, watchers, \
                connections and buffered bytes by class, installed extensions, problems and \
                upgrade outcomes. Labels never carry a secret, an option value or a path. \
                culvertd started with --metrics-textfile DIR writes the same text to DIR/culvert.prom \
                every --stats-interval. Root and members of the reader group may call it.

                With --json, prints {"text": STRING}.

                EXIT STATUS
                  0   printed
                  69  culvertd is not reachable
                  77  permission denied (neither root nor in the reader group)

                EXAMPLES
                  culvertctl metrics
                  culvertctl metrics | promtool check metrics
                  culvertctl metrics | grep '^culvert_session_transmit_bytes_total'
                """)

        @OptionGroup var global: GlobalOptions

        struct Result: Encodable {
            var text: String
        }

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let text: String
                do throws(CulvertClientError) { text = try await client.metrics() } catch { throw CommandFailure(error, socket: socket) }
                if output.json {
                    output.json(Result(text: text))
                } else {
                    // Line by line: each goes through Output's control-character guard.
                    for line in text.split(separator: "\n") { output.line(String(line)) }
                }
            }
        }
    }
}
