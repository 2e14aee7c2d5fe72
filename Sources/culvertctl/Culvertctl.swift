// culvertctl: the command-line controller of culvertd. One file per subcommand.

import ArgumentParser
import FoundationEssentials
import Glibc

@main
struct Culvertctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "culvertctl",
        abstract: "Control and observe culvertd, the Culvert tunnel extension manager.",
        discussion: """
            culvertctl talks to culvertd over its varlink control socket (io.culvert.Manager). It never \
            talks to a tunnel extension directly.

            The socket is --socket PATH if given, else $CULVERT_SOCKET if set, else \
            /run/culvert/io.culvert.Manager. Reading (status, ping, watch, profile list/show, extension \
            list/show, session list/show) needs root or membership of culvertd's reader group (default "culvert"); changes \
            need root. `extension install` spools the request when culvertd is not running, and the \
            bundle commands (keygen, sign, verify) work on files alone, without culvertd.

            Every command prints readable, aligned text by default and one JSON document with --json \
            (watch: one JSON object per line). Errors go to standard error as one line, \
            "culvertctl: error: …", with a hint where one helps; with --json that line is a JSON object. \
            Only a failed `connect` adds lines: the provider's last log lines, after the error line.

            EXIT STATUS
              0   success
              1   any other failure (a tunnel did not come up: ConnectFailed; the
                  provider failed a message; the daemon could not store a change;
                  a protocol error, …)
              64  usage error: unknown command or option, malformed argument
              65  input refused: the daemon rejected the profile (InvalidProfile),
                  or the bundle (BundleRejected, DowngradeRefused,
                  PublisherMismatch, PublisherNotAllowed, InvalidPath), or the
                  extension is not usable yet (ExtensionNotUsable), or the binary
                  to re-exec (ReexecFailed binary_unusable); the secrets
                  read from standard input are malformed; `bundle verify` or
                  `bundle sign` found the bundle or key invalid
              66  not found: no profile, session or extension of that name
                  (ProfileNotFound, SessionNotFound, ExtensionNotFound), or no
                  such bundle or file
              69  daemon unreachable: culvertd is not running or not answering,
                  or the socket is not culvertd's, or culvertd is too old for the
                  command; or the profile's provider cannot take messages
                  (ProviderUnavailable)
              75  try again: culvertd is busy (`daemon reexec` while sessions
                  connect or disconnect: ReexecFailed busy)
              77  permission denied

            ENVIRONMENT
              CULVERT_SOCKET  the control socket, when --socket is not given

            EXAMPLES
              culvertctl status
              culvertctl --json status | jq -r .daemon.epoch
              culvertctl watch
              culvertctl connect office
              culvertctl session list
              culvertctl session show office
              culvertctl disconnect office
              culvertctl extension install /opt/example/com.example.vpn.culvertext
              culvertctl extension list
              culvertctl bundle verify com.example.vpn.culvertext --trusted-keys ~/keys
              culvertctl daemon reexec
              printf 'privateKey=%s\\n' "$KEY" |
                culvertctl profile add office --extension io.culvert.wireguard \\
                  --option endpoint=vpn.example.net:51820 --secrets-from-stdin
            """,
        subcommands: [
            Status.self, Watch.self, Ping.self, Connect.self, Disconnect.self, SessionCommand.self, Message.self, ProfileCommand.self,
            ExtensionCommand.self, BundleCommand.self, DaemonCommand.self, Metrics.self,
        ])

    /// Lets global options go before the subcommand too (`culvertctl --json status`).
    @OptionGroup var global: GlobalOptions
}

extension Culvertctl {
    /// argument-parser's entry point, with usage errors reported in culvertctl's one-line format
    /// (`culvertctl: error: …`) and its exit status 64.
    static func main() async {
        let command: any ParsableCommand
        do {
            command = try await asyncParseAsRoot()
        } catch {
            guard exitCode(for: error) != .success else { exit(withError: error) }  // --help: printed to stdout, exit 0
            reportUsageError(error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
        } catch {
            // Commands report their own failures and throw ExitCode, which prints nothing more.
            exit(withError: error)
        }
    }

    private static func reportUsageError(_ error: any Error) -> Never {
        // argument-parser's full message ends with "See 'culvertctl sub --help' …": the hint.
        let seeLine = fullMessage(for: error).split(separator: "\n").map(\.trimmedOfWhitespace)
            .first { $0.hasPrefix("See '") }
        let failure = CommandFailure(
            status: .usage, code: "usage", message: message(for: error),
            hint: seeLine.map { String($0.dropLast($0.hasSuffix(".") ? 1 : 0)).replacing("See", with: "see") })
        // Parsing failed, so --json may not have been parsed: look for it directly.
        Output(json: CommandLine.arguments.dropFirst().contains("--json")).report(failure)
        Glibc.exit(failure.status.rawValue)
    }
}

extension StringProtocol {
    /// Without leading and trailing whitespace (Character.isWhitespace: spaces, tabs, line ends).
    var trimmedOfWhitespace: String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }
}
