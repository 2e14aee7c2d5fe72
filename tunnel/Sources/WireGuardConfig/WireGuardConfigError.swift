// WireGuardConfigError: why a profile's options and secrets are not a WireGuard configuration.
// Every case names the option or secret; none carries a value, so no key can reach a log.

public enum WireGuardConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A required option is absent (`address`, `peer.N.public-key`).
    case missingOption(String)
    /// A required secret is absent (`private-key`).
    case missingSecret(String)
    /// An option or secret this schema does not define.
    case unknownOption(String)
    case unknownSecret(String)
    /// The value of the named option or secret is malformed; `reason` never quotes the value.
    case invalidValue(option: String, reason: String)
    /// An endpoint names a host: only IP literals are accepted (nothing is resolved).
    case endpointIsHostName(option: String)
    /// Peer numbers must run 0, 1, 2… without a gap; `missing` is the first absent one.
    case peersNotContiguous(missing: Int)
    case tooManyPeers(count: Int, maximum: Int)
    /// The profile would not fit culvertd's limits: `limit` names the ProfileLimits constant,
    /// `subject` the option or secret (or "options"/"secrets" for a count).
    case exceedsProfileLimit(limit: String, subject: String, needed: Int, maximum: Int)
    /// A test-only option (TestOnlyOptions) in a build that refuses them (release).
    case testOnlyOption(String)

    public var description: String {
        switch self {
        case .missingOption(let name): return "option \(name) is required"
        case .missingSecret(let name): return "secret \(name) is required"
        case .unknownOption(let name): return "option \(Shown.name(name)) is not a WireGuard profile option"
        case .unknownSecret(let name): return "secret \(Shown.name(name)) is not a WireGuard profile secret"
        case .invalidValue(let option, let reason): return "\(option): \(reason)"
        case .endpointIsHostName(let option):
            return "\(option): a host name is not accepted, only an IPv4 address or a [bracketed] IPv6 address and a port "
                + "(names are not resolved)"
        case .peersNotContiguous(let missing): return "peers must be numbered 0, 1, 2… without a gap: peer \(missing) is missing"
        case .tooManyPeers(let count, let maximum): return "\(count) peers; at most \(maximum) are accepted"
        case .exceedsProfileLimit(let limit, let subject, let needed, let maximum):
            return "\(subject) would need \(needed) where a profile holds at most \(maximum) (ProfileLimits.\(limit))"
        case .testOnlyOption(let name): return "option \(name) is for tests only: this (release) build of the provider refuses it"
        }
    }
}

/// How names taken from hostile input are shown in errors: short names of letters, digits,
/// `.`, `-`, `_` as they are; anything else (a pasted key, control characters) is not shown.
enum Shown {
    static let maximumNameLength = 32

    static func name(_ text: some StringProtocol) -> String {
        let plain = text.utf8.allSatisfy {
            WireGuardIPAddress.isDigit($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0 | 0x20) || $0 == UInt8(ascii: "-")
                || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
        }
        return plain && !text.isEmpty && text.utf8.count <= maximumNameLength ? String(text) : "(a name not shown)"
    }
}
