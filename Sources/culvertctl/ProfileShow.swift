// culvertctl profile show: one profile in full (secret names only, never values).

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl.ProfileCommand {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one profile.",
            discussion: """
                Prints the profile's extension, always-on flag, every option, and the names of its \
                secrets (their values can be written but never read back). Exits 66 if there is no \
                such profile. With --json, prints the io.culvert.Manager Profile object.

                EXAMPLES
                  culvertctl profile show office
                  culvertctl profile show office --json | jq -r .options.endpoint
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Name of the profile.")
        var name: String

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let profile: Profile
                do throws(CulvertClientError) { profile = try await client.profile(named: name) } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(profile)
                    return
                }
                var rows = [
                    ["name", profile.name], ["extension", profile.extensionIdentifier], ["always-on", profile.alwaysOn ? "yes" : "no"],
                ]
                let options = profile.options.sorted { $0.key < $1.key }
                if options.isEmpty { rows.append(["options", "none"]) }
                for (index, option) in options.enumerated() { rows.append([index == 0 ? "options" : "", "\(option.key)=\(option.value)"]) }
                rows.append(["secrets", profile.secretNames.isEmpty ? "none" : profile.secretNames.sorted().joined(separator: ", ")])
                // Only when on, so the table of every other profile reads as before.
                if profile.killSwitch {
                    rows.append([
                        "kill-switch", "yes, allowing " + (profile.killSwitchAllow + ["fe80::/10 (always)"]).joined(separator: ", "),
                    ])
                }
                output.table(rows)
            }
        }
    }
}
