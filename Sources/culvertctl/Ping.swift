// culvertctl ping: is culvertd alive and serving?

import ArgumentParser
import CulvertClient

extension Culvertctl {
    struct Ping: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that culvertd is alive and serving its socket.",
            discussion: """
                Calls Ping and prints the daemon's version, its epoch and last event seq, and the \
                round-trip time. Exits 0 if the daemon answered, 69 if it is not reachable: suitable \
                for health checks.

                EXAMPLES
                  culvertctl ping
                  until culvertctl ping >/dev/null 2>&1; do sleep 0.2; done
                """)

        @OptionGroup var global: GlobalOptions

        struct Result: Encodable {
            var version: String
            var epoch: String
            var seq: Int64
            var roundTripMilliseconds: Double
        }

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let clock = ContinuousClock()
                let started = clock.now
                let reply: PingReply
                do throws(CulvertClientError) { reply = try await client.ping() } catch { throw CommandFailure(error, socket: socket) }
                let elapsed = clock.now - started
                let milliseconds = (Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15)
                if output.json {
                    output.json(Result(version: reply.version, epoch: reply.epoch, seq: reply.seq, roundTripMilliseconds: milliseconds))
                } else {
                    let rounded = (milliseconds * 10).rounded() / 10
                    output.line("culvertd \(reply.version) is serving  epoch \(reply.epoch)  seq \(reply.seq)  (\(rounded) ms)")
                }
            }
        }
    }
}
