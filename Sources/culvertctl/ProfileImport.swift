// culvertctl profile import: a wg-quick(8) file as an io.culvert.wireguard profile — its options
// and its keys as secrets — refusing, with the line, what would run code or fight culvertd.

import ArgumentParser
import CulvertClient
import CulvertCore
import CulvertSystem
import FoundationEssentials
import Glibc
import WireGuardConfig

extension Culvertctl.ProfileCommand {
    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import a wg-quick configuration file as a WireGuard profile.",
            discussion: """
                Reads FILE (a wg-quick(8) .conf file: [Interface] and [Peer] sections) and saves it as \
                the profile NAME running io.culvert.wireguard. The private key and the preshared keys \
                become the profile's secrets (write-only: `profile show` names them, never shows them); \
                everything else becomes options. NAME defaults to the file's name without ".conf".

                Keys are case-insensitive; "#" starts a comment; Address, DNS and AllowedIPs may be \
                repeated and hold comma lists. DNS entries that are not IP addresses are search \
                domains. AllowedIPs = 0.0.0.0/0 or ::/0 routes everything through the tunnel: \
                culvertd's policy routing carries it. Endpoint must be an IP address and port: host \
                names are not resolved. Table = off/auto and FwMark = off/0 are accepted and ignored.

                Refused, with the line: PreUp, PostUp, PreDown and PostDown (wg-quick would run them as \
                commands), SaveConfig (it would write the file), any other Table or FwMark (they fight \
                culvertd's routing), unknown keys and sections, a key given twice, malformed values, \
                and files over 1 MiB, with more than 256 peers, or too large for a profile (at most \
                256 options of 4,096 bytes and 64 secrets). On any error nothing is saved.

                An existing profile of the same name is refused unless --replace is given, which \
                replaces its options and all its secrets and keeps its always-on flag. FILE must be \
                a regular file; a symbolic link is not followed.

                Exits 65 if the file or the profile is refused (the message names the line and the \
                reason; with --json the error code says which, e.g. runs_command), 66 if FILE does \
                not exist, 77 if not run as root.

                EXAMPLES
                  culvertctl profile import /etc/wireguard/wg0.conf
                  culvertctl profile import office.conf --name office --replace
                  culvertctl profile show wg0
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("The wg-quick configuration file.", valueName: "file"))
        var file: String

        @Option(name: .long, help: ArgumentHelp("Name of the profile (default: the file's name without .conf).", valueName: "name"))
        var name: String?

        @Flag(name: .long, help: "Replace an existing profile of the same name.")
        var replace = false

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let profileName = try Self.profileName(explicit: name, file: file)
                let configuration = try Self.read(file)
                let existing: Profile?
                do throws(CulvertClientError) { existing = try await client.profiles().first { $0.name == profileName } } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if existing != nil && !replace {
                    throw CommandFailure(
                        status: .inputRefused, code: "profile_exists", message: "a profile named \"\(profileName)\" already exists",
                        hint: "give --replace to replace it, or --name to import under another name")
                }
                let saved: SavedProfile
                do throws(CulvertClientError) {
                    saved = try await client.saveProfile(
                        name: profileName, extensionIdentifier: WireGuardConfiguration.extensionIdentifier,
                        options: configuration.profileOptions, alwaysOn: existing?.alwaysOn ?? false, secrets: configuration.profileSecrets,
                        killSwitch: existing?.killSwitch ?? false, killSwitchAllow: existing?.killSwitchAllow ?? [])
                } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(saved)
                } else {
                    let peers = configuration.peers.count == 1 ? "1 peer" : "\(configuration.peers.count) peers"
                    output.line(
                        "imported \(file) as \(saved.profile.name) (\(saved.created ? "created" : "replaced")): \(peers), "
                            + "secrets \(saved.profile.secretNames.sorted().joined(separator: ",")), seq \(saved.seq)")
                }
            }
        }

        /// `explicit`, or the file's base name without `.conf`; either must be a valid profile name.
        static func profileName(explicit: String?, file: String) throws(CommandFailure) -> String {
            var derived = String(file.split(separator: "/").last ?? "")
            if derived.hasSuffix(".conf") { derived.removeLast(".conf".count) }
            let name = explicit ?? derived
            do throws(ProfileValidationError) { try ProfileValidation.validate(name: name) } catch {
                let rule = CommandFailure.rule(for: "name")
                throw CommandFailure(
                    status: .inputRefused, code: "invalid_profile", message: "\"\(name)\" is not a profile name (\(error.reason.rawValue))",
                    hint: explicit == nil ? "give one with --name; \(rule)" : rule)
            }
            return name
        }

        /// Reads and parses `path`: a regular file (not followed if a symlink) of at most
        /// `WgQuickParser.maximumInputBytes`.
        static func read(_ path: String) throws(CommandFailure) -> WireGuardConfiguration {
            let limit = WgQuickParser.maximumInputBytes
            let tooLarge = CommandFailure(status: .inputRefused, code: "input_too_large", message: "\(path) is larger than \(limit) bytes")
            let status: FileStatus?
            let bytes: [UInt8]
            do throws(SystemError) { status = try FileSystem.status(of: path) } catch {
                throw failure(error, path: path, tooLarge: tooLarge)
            }
            guard let status else { throw CommandFailure(status: .notFound, code: "file_not_found", message: "no such file: \(path)") }
            guard status.kind == .regular else { throw notRegular(path) }
            guard status.size <= limit else { throw tooLarge }
            do throws(SystemError) { bytes = try FileSystem.readFile(path) } catch { throw failure(error, path: path, tooLarge: tooLarge) }
            // The file may have grown since it was looked at; readFile stops at 16 MiB.
            guard bytes.count <= limit else { throw tooLarge }
            do throws(WgQuickError) { return try WgQuickParser.parse(bytes: bytes) } catch {
                throw CommandFailure(
                    status: .inputRefused, code: error.kind.code, message: "\(path)\(error.line == nil ? ":" : "") \(error)",
                    hint: hint(for: error.kind))
            }
        }

        private static func failure(_ error: SystemError, path: String, tooLarge: CommandFailure) -> CommandFailure {
            switch error.errno {
            case ENOENT: return CommandFailure(status: .notFound, code: "file_not_found", message: "no such file: \(path)")
            case EACCES, EPERM:
                return CommandFailure(status: .permissionDenied, code: "permission_denied", message: "cannot read \(path): \(error)")
            case EFBIG: return tooLarge
            case ELOOP, EISDIR, EINVAL: return notRegular(path)
            default: return CommandFailure(status: .failure, code: "read_failed", message: "cannot read \(path): \(error)")
            }
        }

        private static func notRegular(_ path: String) -> CommandFailure {
            CommandFailure(
                status: .inputRefused, code: "not_a_regular_file", message: "\(path) is not a regular file",
                hint: "give the file itself: a symbolic link, directory or device is not read")
        }

        private static func hint(for kind: WgQuickError.Kind) -> String? {
            switch kind {
            case .runsCommand, .savesConfig, .routingTable, .firewallMark:
                return "culvertd sets up addresses, routes and DNS itself; remove the line"
            case .unknownKey, .keyOutsideSection, .unknownSection:
                return "[Interface] takes PrivateKey, Address, DNS, MTU, ListenPort, Table, FwMark; "
                    + "[Peer] takes PublicKey, PresharedKey, Endpoint, AllowedIPs, PersistentKeepalive"
            case .endpointIsHostName: return "resolve the name yourself and give its address, e.g. Endpoint = 192.0.2.1:51820"
            case .tooManyPeers, .tooManyEntries, .profileLimit: return "split the peers across several profiles"
            default: return nil
            }
        }
    }
}
