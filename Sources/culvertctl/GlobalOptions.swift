// GlobalOptions: the options every culvertctl command takes, and the client they configure.

import ArgumentParser
import CulvertClient

struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Path of culvertd's control socket.",
            discussion: "Default: $CULVERT_SOCKET if set, else \(CulvertClient.defaultSocketPath).", valueName: "path"))
    var socket: String?

    @Flag(name: .long, help: "Print machine-readable JSON instead of text (watch: one object per line).")
    var json = false

    /// The socket this invocation uses: the flag, the environment, or the default, in that order.
    var socketPath: String { CulvertClient.resolveSocketPath(explicit: socket) }

    var client: CulvertClient { CulvertClient(socketPath: socketPath) }

    /// Runs `body` with a client; a failure is reported on standard error and becomes the exit code.
    func run(_ body: (CulvertClient, Output) async throws(CommandFailure) -> Void) async throws {
        let output = Output(json: json)
        do {
            try await body(client, output)
        } catch {
            output.report(error)
            throw ExitCode(error.status.rawValue)
        }
    }

}
