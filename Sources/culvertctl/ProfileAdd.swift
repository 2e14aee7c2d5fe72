// culvertctl profile add: create or replace a profile.

import ArgumentParser
import CulvertClient
import CulvertCore
import CulvertSystem
import FoundationEssentials
import Glibc

extension Culvertctl.ProfileCommand {
    struct Add: AsyncParsableCommand {
        /// More than this on standard input is refused rather than read into memory
        /// (the daemon accepts at most 64 secrets of 64 KiB each).
        static let maximumSecretsInputBytes = 8 << 20
        /// Bytes asked of standard input per read.
        static let secretsReadChunkBytes = 64 << 10

        static let configuration = CommandConfiguration(
            abstract: "Create a profile, or replace the one with the same name.",
            discussion: """
                Saves the profile NAME running extension ID; the change is durable on disk before \
                culvertd replies. Replacing a profile replaces its options, always-on flag and kill \
                switch; its secrets are kept unless --secrets-from-stdin is given, which replaces all of them.

                Secrets are never taken from the command line (where other users can read them in the \
                process list): with --secrets-from-stdin, standard input is read to its end as \
                KEY=VALUE lines. The value is everything after the first "="; empty lines and lines \
                starting with "#" are skipped. An empty input clears the stored secrets.

                Exits 65 if culvertd refuses a field (it names which), 77 if not run as root.

                EXAMPLES
                  culvertctl profile add office --extension io.culvert.wireguard \\
                      --option endpoint=vpn.example.net:51820 --option mtu=1420 --always-on
                  wg genkey | sed 's/^/privateKey=/' | culvertctl profile add office \\
                      --extension io.culvert.wireguard --secrets-from-stdin
                  culvertctl profile add office --extension io.culvert.wireguard \\
                      --kill-switch --kill-switch-allow 192.168.1.0/24
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Name of the profile: letters, digits, '.', '_', '-'.")
        var name: String

        @Option(name: .long, help: ArgumentHelp("Identifier of the extension that runs the profile (reverse-DNS).", valueName: "id"))
        var `extension`: String

        @Option(name: .long, help: ArgumentHelp("A provider option; repeat for more.", valueName: "key=value"))
        var option: [KeyValue] = []

        @Flag(name: .long, help: "Keep the tunnel up: reconnect after failures and at daemon start.")
        var alwaysOn = false

        @Flag(name: .long, help: "Read the profile's secrets as KEY=VALUE lines from standard input.")
        var secretsFromStdin = false

        @Flag(
            name: .long,
            help: "Kill switch: from Connect until an explicit Disconnect, nothing leaves but through the tunnel (also while it restarts).")
        var killSwitch = false

        @Option(
            name: .long,
            help: ArgumentHelp(
                "A prefix the kill switch lets through outside the tunnel (e.g. the local subnet); repeat for more.", valueName: "cidr"))
        var killSwitchAllow: [String] = []

        func validate() throws {
            if !killSwitchAllow.isEmpty && !killSwitch { throw ValidationError("--kill-switch-allow needs --kill-switch") }
            var seen: Set<String> = []
            for pair in option where !seen.insert(pair.key).inserted {
                throw ValidationError("--option \(pair.key) is given more than once")
            }
        }

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let secrets = secretsFromStdin ? try Self.readSecrets(output: output) : nil
                let options = Dictionary(option.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
                let saved: SavedProfile
                do throws(CulvertClientError) {
                    saved = try await client.saveProfile(
                        name: name, extensionIdentifier: `extension`, options: options, alwaysOn: alwaysOn, secrets: secrets,
                        killSwitch: killSwitch, killSwitchAllow: killSwitchAllow)
                } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(saved)
                } else {
                    output.line("saved \(saved.profile.name) (\(saved.created ? "created" : "replaced")), seq \(saved.seq)")
                }
            }
        }

        static func readSecrets(output: Output) throws(CommandFailure) -> [String: String] {
            if isatty(STDIN_FILENO) == 1 { output.note("reading KEY=VALUE lines from standard input; end with Ctrl-D") }
            var data: [UInt8] = []
            do throws(SystemError) {
                while data.count <= maximumSecretsInputBytes {
                    if try Descriptor.standardInput.read(appendingTo: &data, maximum: secretsReadChunkBytes) == 0 { break }
                }
            } catch {
                throw CommandFailure(status: .inputRefused, code: "secrets_malformed", message: "cannot read standard input: \(error)")
            }
            guard data.count <= maximumSecretsInputBytes else {
                throw CommandFailure(
                    status: .inputRefused, code: "secrets_malformed",
                    message: "more than \(maximumSecretsInputBytes) bytes of secrets on standard input")
            }
            guard let text = String(validating: data, as: UTF8.self) else {
                throw CommandFailure(
                    status: .inputRefused, code: "secrets_malformed", message: "the secrets on standard input are not UTF-8")
            }
            return try parseSecrets(text)
        }

        /// Parses KEY=VALUE lines; see the command's discussion for the format.
        static func parseSecrets(_ text: String) throws(CommandFailure) -> [String: String] {
            var secrets: [String: String] = [:]
            for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
                if line.isEmpty || line.hasPrefix("#") { continue }
                guard let equals = line.firstIndex(of: "="), equals != line.startIndex else {
                    throw CommandFailure(
                        status: .inputRefused, code: "secrets_malformed",
                        message: "standard input line \(index + 1): expected KEY=VALUE", hint: "one secret per line, e.g. privateKey=…")
                }
                let key = String(line[..<equals])
                guard secrets.updateValue(String(line[line.index(after: equals)...]), forKey: key) == nil else {
                    throw CommandFailure(
                        status: .inputRefused, code: "secrets_malformed",
                        message: "standard input line \(index + 1): secret \(key) is given twice")
                }
            }
            return secrets
        }
    }
}

/// A `KEY=VALUE` command-line argument; the value may itself contain "=".
struct KeyValue: ExpressibleByArgument, Sendable {
    var key: String
    var value: String

    init?(argument: String) {
        guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else { return nil }
        key = String(argument[..<equals])
        value = String(argument[argument.index(after: equals)...])
    }
}
