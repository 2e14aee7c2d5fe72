// WgQuickError: why a wg-quick file was refused, with the 1-based line it was refused at.
// Names from the file are shown only when short and plain (Shown.name); values never are.

public struct WgQuickError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The file is larger than `WgQuickParser.maximumInputBytes`.
        case inputTooLarge(maximum: Int)
        case invalidUTF8
        /// NUL or another control character (a tab is allowed).
        case controlCharacter
        /// Neither a `[Section]` header nor `Key = Value`.
        case malformedLine
        case unknownSection(String)
        case keyOutsideSection(String)
        /// A key that wg-quick and wg(8) do not define in this section.
        case unknownKey(key: String, section: String)
        /// PreUp, PostUp, PreDown, PostDown: wg-quick runs them as shell commands.
        case runsCommand(key: String)
        /// SaveConfig, true or false: wg-quick would write the file back.
        case savesConfig
        /// Table other than `off` or `auto`: a routing table of its own fights culvertd's routing.
        case routingTable
        /// FwMark other than `off` or 0: culvertd marks the tunnel's packets itself.
        case firewallMark
        /// A single-valued key given twice in one section.
        case duplicateKey(String)
        case duplicateInterface
        case invalidValue(key: String, reason: String)
        /// Endpoint names a host; only IP literals are accepted.
        case endpointIsHostName(key: String)
        /// More entries for a repeatable key than any profile can hold.
        case tooManyEntries(key: String, maximum: Int)
        case tooManyPeers(maximum: Int)
        /// No [Interface] section in the file.
        case missingInterface
        /// The section that starts at the error's line lacks a required key.
        case missingKey(section: String, key: String)
        /// The configuration is valid but would not fit a profile (which limit: see the error).
        case profileLimit(WireGuardConfigError)

        /// Stable machine-readable name (culvertctl's --json error code).
        public var code: String {
            switch self {
            case .inputTooLarge: return "input_too_large"
            case .invalidUTF8: return "invalid_utf8"
            case .controlCharacter: return "control_character"
            case .malformedLine: return "malformed_line"
            case .unknownSection: return "unknown_section"
            case .keyOutsideSection: return "key_outside_section"
            case .unknownKey: return "unknown_key"
            case .runsCommand: return "runs_command"
            case .savesConfig: return "saves_config"
            case .routingTable: return "routing_table"
            case .firewallMark: return "firewall_mark"
            case .duplicateKey, .duplicateInterface: return "duplicate_key"
            case .invalidValue: return "invalid_value"
            case .endpointIsHostName: return "endpoint_host_name"
            case .tooManyEntries, .tooManyPeers, .profileLimit: return "too_large_for_profile"
            case .missingInterface, .missingKey: return "missing_key"
            }
        }
    }

    /// 1-based; nil when the error is about the whole file.
    public var line: Int?
    public var kind: Kind

    public init(line: Int?, _ kind: Kind) {
        self.line = line
        self.kind = kind
    }

    public var description: String {
        let prefix = line.map { "line \($0): " } ?? ""
        return prefix + reason
    }

    private var reason: String {
        switch kind {
        case .inputTooLarge(let maximum): return "the file is larger than \(maximum) bytes"
        case .invalidUTF8: return "not valid UTF-8"
        case .controlCharacter: return "contains a NUL or another control character"
        case .malformedLine: return "expected [Interface], [Peer] or Key = Value"
        case .unknownSection(let name): return "unknown section [\(name)] (only [Interface] and [Peer])"
        case .keyOutsideSection(let key): return "\(key) is outside any section (start with [Interface])"
        case .unknownKey(let key, let section): return "\(key) is not a key of [\(section)]"
        case .runsCommand(let key):
            return "\(key) is refused: wg-quick would run it as a shell command; culvert-wireguard runs no commands"
        case .savesConfig: return "SaveConfig is refused: wg-quick would write this file back; culvertd keeps the profile"
        case .routingTable:
            return "Table is refused unless off or auto: a table of its own would fight culvertd's policy routing"
        case .firewallMark: return "FwMark is refused unless off or 0: culvertd marks the tunnel's packets itself"
        case .duplicateKey(let key): return "\(key) is given twice in this section"
        case .duplicateInterface: return "a second [Interface] section"
        case .invalidValue(let key, let reason): return "\(key) \(reason)"
        case .endpointIsHostName(let key):
            return "\(key) names a host: only an IPv4 address or a [bracketed] IPv6 address and a port are accepted "
                + "(host names are not resolved)"
        case .tooManyEntries(let key, let maximum): return "\(key): more than \(maximum) entries"
        case .tooManyPeers(let maximum): return "more than \(maximum) [Peer] sections"
        case .missingInterface: return "no [Interface] section"
        case .missingKey(let section, let key): return "this [\(section)] has no \(key)"
        case .profileLimit(let error): return "too large for a profile: \(error)"
        }
    }
}
