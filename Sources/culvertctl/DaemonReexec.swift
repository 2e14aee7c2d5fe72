// culvertctl daemon reexec: replace culvertd's program in place, keeping everything it holds.

import ArgumentParser
import CulvertClient

extension Culvertctl.DaemonCommand {
    struct Reexec: AsyncParsableCommand {
        /// How long culvertd may take to answer `Ping` from its new image after accepting.
        static let settleDeadline: Duration = .seconds(10)
        /// Pause between `Ping`s while the new image starts.
        static let pollInterval: Duration = .milliseconds(20)

        static let configuration = CommandConfiguration(
            abstract: "Re-execute culvertd in place (e.g. after an upgrade), keeping tunnels and clients.",
            discussion: """
                Asks culvertd to replace its program with --binary, or else with the binary it runs \
                from as that is on disk now. The control socket, every client connection (a running \
                `culvertctl watch` prints "culvertd going away" and "culvertd back", with no \
                reconnect), the event history and its epoch, and every tunnel are carried over. \
                culvertd refuses while sessions are connecting or disconnecting.

                After culvertd accepts, waits (at most 10 s) until the new image answers Ping with \
                the same epoch, then prints
                  culvertd re-executed: version 0.1.0 → 0.2.0, epoch unchanged, 180 ms
                With --json, prints {"previousVersion", "version", "epoch", "milliseconds"}. Needs root.

                EXIT STATUS
                  0   culvertd re-executed and answers again
                  1   the exec failed and culvertd restarted instead (a new epoch:
                      watchers resync), or another failure
                  65  the binary is unusable: not an executable file given by
                      absolute path (ReexecFailed binary_unusable)
                  69  culvertd is not reachable, or did not answer within 10 s
                      after accepting
                  75  culvertd is busy: sessions are connecting or disconnecting
                      (ReexecFailed busy); try again
                  77  permission denied (not root)

                EXAMPLES
                  culvertctl daemon reexec
                  culvertctl daemon reexec --binary /usr/libexec/culvert/culvertd.new
                  until culvertctl daemon reexec; [ $? -ne 75 ]; do sleep 1; done
                """)

        @OptionGroup var global: GlobalOptions

        @Option(
            name: .long,
            help: ArgumentHelp("Absolute path of the culvertd binary to execute (default: the running one).", valueName: "path"))
        var binary: String?

        struct Result: Encodable {
            var previousVersion: String
            var version: String
            var epoch: String
            var milliseconds: Int64
        }

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let before: PingReply
                do throws(CulvertClientError) { before = try await client.ping() } catch { throw CommandFailure(error, socket: socket) }
                let clock = ContinuousClock()
                let started = clock.now
                do throws(CulvertClientError) { try await client.reexec(binary: binary) } catch {
                    throw CommandFailure(error, socket: socket)
                }
                let after = try await Self.awaitNewImage(
                    client: client, before: before, socket: socket, until: started + Self.settleDeadline)
                let elapsed = clock.now - started
                let milliseconds = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
                if output.json {
                    output.json(
                        Result(previousVersion: before.version, version: after.version, epoch: after.epoch, milliseconds: milliseconds))
                } else {
                    output.line("culvertd re-executed: version \(before.version) → \(after.version), epoch unchanged, \(milliseconds) ms")
                }
            }
        }

        /// Pings until the new image answers: the same epoch, and at least the two events a re-exec
        /// adds (daemon_going_away, daemon_back) past `before`. Until then a failed connect or a
        /// slow answer is the exec in progress, not an error.
        static func awaitNewImage(
            client: CulvertClient, before: PingReply, socket: String, until deadline: ContinuousClock.Instant
        ) async throws(CommandFailure) -> PingReply {
            while true {
                var bounded = client
                bounded.callDeadline = max(.milliseconds(1), min(client.callDeadline, deadline - .now))
                let answer: PingReply?
                do throws(CulvertClientError) { answer = try await bounded.ping() } catch {
                    switch error {
                    case .daemonUnreachable, .timedOut: answer = nil  // the exec in progress
                    default: throw CommandFailure(error, socket: socket)
                    }
                }
                if let answer {
                    guard answer.epoch == before.epoch else {
                        throw CommandFailure(
                            status: .failure, code: "reexec_restarted",
                            message: "culvertd restarted instead of re-executing (epoch \(before.epoch) → \(answer.epoch))",
                            hint: "the exec failed; see culvertd's log. Tunnels were re-adopted, watchers resync")
                    }
                    if answer.seq >= before.seq + 2 { return answer }
                }
                guard ContinuousClock.now < deadline else {
                    throw CommandFailure(
                        status: .unavailable, code: "reexec_unconfirmed",
                        message: "culvertd accepted the re-exec but did not answer within \(settleDeadline) after it",
                        hint: "see culvertd's log; socket: \(socket)")
                }
                do { try await Task.sleep(for: pollInterval) } catch { throw CommandFailure(.cancelled, socket: socket) }
            }
        }
    }
}
