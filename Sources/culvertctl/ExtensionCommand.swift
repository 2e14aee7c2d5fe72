// culvertctl extension: the group of extension subcommands, and how extensions are shown.

import ArgumentParser
import CulvertCore

extension Culvertctl {
    struct ExtensionCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "extension",
            abstract: "Install, list, show, approve, upgrade, uninstall and clean up tunnel extensions.",
            discussion: """
                An extension is a signed bundle directory, <identifier>.culvertext, holding a packet-tunnel \
                provider. culvertd installs a verified, read-only copy of it under its state directory and \
                runs only that copy, so the source may be changed or removed afterwards without effect.

                Versions (contract 6): installing the same version and build again changes nothing; a \
                newer one replaces the installed one; an older one is refused unless --allow-downgrade; \
                a bundle from another publisher than the installed one is always refused.

                States: staged, awaiting_approval (the policy requires `extension approve`), enabled, \
                replacing (a newer version is staged: see `extension policy`), failed, uninstalling. \
                Listing needs root or culvertd's reader group; every change needs root.

                Upgrade policies decide when a newer version replaces the running one in connected \
                sessions: now (the default: at install, live), when-idle, on-disconnect or ask. Any \
                other policy stages the new version while sessions run it; `extension upgrade` applies \
                a staged version at once, `extension upgrade --cancel` drops it.

                EXAMPLES
                  culvertctl extension install /opt/example/com.example.vpn.culvertext
                  culvertctl extension list
                  culvertctl extension approve io.culvert.wireguard
                  culvertctl extension policy io.culvert.wireguard on-disconnect
                  culvertctl extension upgrade io.culvert.wireguard
                  culvertctl extension gc --dry-run
                """,
            subcommands: [
                Install.self, List.self, Show.self, Approve.self, SetPolicy.self, Upgrade.self, CancelUpgrade.self, Uninstall.self,
                CollectGarbage.self,
            ])

        /// Lets global options go here too (`culvertctl extension --json list`).
        @OptionGroup var global: GlobalOptions

        /// Printed above listings while unsigned bundles are accepted, so nobody mistakes them for vetted ones.
        static let developerModeBanner = "DEVELOPER MODE: culvertd accepts unsigned extensions (policy developerMode)"

        /// Rows for the extension table: a header, then one row per extension.
        static func tableRows(_ extensions: [ExtensionInfo]) -> [[String]] {
            [["IDENTIFIER", "VERSION", "PUBLISHER", "STATE", "STAGED", "POLICY", "SIGNED", "INSTALLED FROM"]]
                + extensions.map { info in
                    [
                        info.identifier, info.versionDescription, shortPublisher(info.publisher), info.state.rawValue,
                        info.staged?.versionDescription ?? "-", info.effectiveUpgradePolicy?.rawValue ?? "-", info.signed ? "yes" : "NO",
                        info.source,
                    ]
                }
        }

        /// "unsigned", or the first 16 hex digits of the key fingerprint (searchable in the full form).
        static func shortPublisher(_ publisher: String) -> String {
            publisher == "unsigned" ? publisher : String(publisher.prefix(16))
        }

        /// "1.2.3 (4), enabled" plus ", UNSIGNED" when it is: the summary install and approve print.
        static func summary(_ info: ExtensionInfo) -> String {
            "\(info.identifier) \(info.versionDescription), \(info.state.rawValue)" + (info.signed ? "" : ", UNSIGNED")
        }
    }
}

extension Culvertctl.ExtensionCommand {
    /// "when-idle (set for this extension)" or "now (policy.json default)".
    static func policyDescription(_ info: ExtensionInfo) -> String {
        guard let effective = info.effectiveUpgradePolicy else { return "-" }
        return effective.rawValue + (info.upgradePolicy == nil ? " (policy.json default)" : " (set for this extension)")
    }
}
