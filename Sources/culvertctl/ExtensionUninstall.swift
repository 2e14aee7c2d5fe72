// culvertctl extension uninstall: remove an extension's registration and its installed copy.

import ArgumentParser
import CulvertClient

extension Culvertctl.ExtensionCommand {
    struct Uninstall: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Uninstall an extension.",
            discussion: """
                Removes the registration and the read-only copy culvertd ran; the bundle it was \
                installed from is not touched. Refused while tunnel sessions use the extension, unless \
                --force, which disconnects them first. Profiles naming it are kept. Needs root: exits \
                77 otherwise, 66 if no such extension is installed.

                EXAMPLES
                  culvertctl extension uninstall io.culvert.wireguard
                  culvertctl extension uninstall io.culvert.wireguard --force
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Identifier of the extension (reverse-DNS).", valueName: "id"))
        var identifier: String

        @Flag(name: .long, help: "Disconnect the sessions that use the extension, then uninstall it.")
        var force = false

        struct Result: Encodable {
            var identifier: String
            var seq: Int64
        }

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let seq: Int64
                do throws(CulvertClientError) { seq = try await client.uninstallExtension(identifier, force: force) } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(Result(identifier: identifier, seq: seq))
                } else {
                    output.line("uninstalled \(identifier), seq \(seq)")
                }
            }
        }
    }
}
