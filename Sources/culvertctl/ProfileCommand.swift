// culvertctl profile: the group of profile subcommands, and how profiles are shown.

import ArgumentParser
import CulvertCore
import CulvertSystem

extension Culvertctl {
    struct ProfileCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "profile",
            abstract: "Add, import, list, show and remove tunnel profiles.",
            discussion: """
                A profile names a tunnel configuration: the extension that runs it, its options, whether \
                it is always on, and its secrets. Secret values are write-only: they are read from \
                standard input when saved and never shown again, only their names.

                EXAMPLES
                  culvertctl profile list
                  culvertctl profile import /etc/wireguard/wg0.conf
                  culvertctl profile show office
                  culvertctl profile remove office
                """,
            subcommands: [Add.self, Import.self, List.self, Show.self, Remove.self])

        /// Lets global options go here too (`culvertctl profile --json list`).
        @OptionGroup var global: GlobalOptions

        /// Rows for the profile table: a header, then one row per profile. Readers (not root) get
        /// no option values or secrets' names from culvertd: those columns say so.
        static func tableRows(_ profiles: [Profile]) -> [[String]] {
            let reader = Identity.effectiveUserID != 0
            return [["NAME", "EXTENSION", "ALWAYS-ON", "OPTIONS", "SECRETS"]]
                + profiles.map { profile in
                    [
                        profile.name, profile.extensionIdentifier, profile.alwaysOn ? "yes" : "no",
                        reader ? "(root only)" : "\(profile.options.count)",
                        reader ? "(root only)" : profile.secretNames.isEmpty ? "-" : profile.secretNames.sorted().joined(separator: ","),
                    ]
                }
        }
    }
}
