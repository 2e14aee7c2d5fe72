// TunnelDNSSettings: a provider's DNS request (io.culvert.Provider DNSSettings), validated before
// anything reaches resolvectl or a resolv.conf line. Every string that ends up in a file here is
// letters, digits, '-', '.', ':' or '_' only, so no value can add a line to resolv.conf.

/// A field of a DNS request, named in `DNSError.invalidSetting`.
public enum DNSSettingsField: String, Sendable, Hashable {
    case servers
    case searchDomains = "search_domains"
    case matchDomains = "match_domains"
    case interfaceName = "interface_name"
    case session
}

/// Why a DNS field was refused.
public enum DNSSettingsProblem: String, Sendable, Hashable {
    /// Not an IPv4 or IPv6 address.
    case notAnIPAddress = "not_an_ip_address"
    /// More entries than the field's limit.
    case tooMany = "too_many"
    /// No name servers at all.
    case missing
    /// Longer than the field's limit.
    case tooLong = "too_long"
    /// Empty, or a domain with an empty label ("a..b", ".", a leading dot).
    case empty
    /// A byte outside the field's alphabet (a space, a newline, '~', non-ASCII, …).
    case invalidCharacter = "invalid_character"
    /// A label that starts or ends with '-'.
    case hyphenAtLabelEdge = "hyphen_at_label_edge"
}

/// The DNS a tunnel asks for: validated addresses and domain names.
public struct TunnelDNSSettings: Sendable, Hashable {
    /// Most name servers. glibc reads only the first three `nameserver` lines; resolved takes them all.
    public static let maximumServers = 16
    /// Most search domains.
    public static let maximumSearchDomains = 32
    /// Most match (routing) domains.
    public static let maximumMatchDomains = 64
    /// Longest domain name in text form, without a trailing dot (RFC 1035: 255 on the wire).
    public static let maximumDomainNameLength = 253
    /// Longest label (RFC 1035).
    public static let maximumDomainLabelLength = 63
    /// Longest session identifier accepted for the resolv.conf header and the backup record.
    public static let maximumSessionLength = 128
    /// Longest interface name (IFNAMSIZ - 1).
    public static let maximumInterfaceNameLength = 15

    /// Name servers, in order of preference. At least one.
    public let servers: [IPAddress]
    /// Domains appended to single-label names.
    public let searchDomains: [String]
    /// When not empty, only names under these domains go to `servers` (systemd-resolved routing
    /// domains); the resolv.conf backend cannot split and uses the servers for every name.
    public let matchDomains: [String]

    /// Validates every field. Domains may end in one dot, which is dropped.
    public init(servers: [IPAddress], searchDomains: [String] = [], matchDomains: [String] = []) throws(DNSError) {
        guard !servers.isEmpty else { throw .invalidSetting(field: .servers, value: "", problem: .missing) }
        guard servers.count <= Self.maximumServers else {
            throw .invalidSetting(field: .servers, value: "\(servers.count) servers", problem: .tooMany)
        }
        guard searchDomains.count <= Self.maximumSearchDomains else {
            throw .invalidSetting(field: .searchDomains, value: "\(searchDomains.count) domains", problem: .tooMany)
        }
        guard matchDomains.count <= Self.maximumMatchDomains else {
            throw .invalidSetting(field: .matchDomains, value: "\(matchDomains.count) domains", problem: .tooMany)
        }
        self.servers = servers
        self.searchDomains = try Self.validDomains(searchDomains, field: .searchDomains)
        self.matchDomains = try Self.validDomains(matchDomains, field: .matchDomains)
    }

    /// As the memberwise init, from the wire's strings: each server must parse as an IP address.
    public init(serverTexts: [String], searchDomains: [String] = [], matchDomains: [String] = []) throws(DNSError) {
        guard serverTexts.count <= Self.maximumServers else {
            throw .invalidSetting(field: .servers, value: "\(serverTexts.count) servers", problem: .tooMany)
        }
        var servers: [IPAddress] = []
        for text in serverTexts {
            do {
                servers.append(try IPAddress(text))
            } catch {
                throw .invalidSetting(field: .servers, value: text, problem: .notAnIPAddress)
            }
        }
        try self.init(servers: servers, searchDomains: searchDomains, matchDomains: matchDomains)
    }

    private static func validDomains(_ domains: [String], field: DNSSettingsField) throws(DNSError) -> [String] {
        var result: [String] = []
        for domain in domains {
            if let problem = domainProblem(domain) { throw .invalidSetting(field: field, value: domain, problem: problem) }
            result.append(domain.hasSuffix(".") ? String(domain.dropLast()) : domain)
        }
        return result
    }

    /// Why `name` is not a valid DNS name (labels of letters, digits and inner hyphens, joined by
    /// dots, an optional final dot), or nil if it is one.
    static func domainProblem(_ name: String) -> DNSSettingsProblem? {
        var bytes = Array(name.utf8)
        if bytes.last == UInt8(ascii: ".") { bytes.removeLast() }
        guard !bytes.isEmpty else { return .empty }
        guard bytes.count <= maximumDomainNameLength else { return .tooLong }
        for label in bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard !label.isEmpty else { return .empty }
            guard label.count <= maximumDomainLabelLength else { return .tooLong }
            guard label.allSatisfy(isLetterDigitHyphen) else { return .invalidCharacter }
            guard label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-") else { return .hyphenAtLabelEdge }
        }
        return nil
    }

    /// Why `name` cannot be an interface name (1–15 bytes of letters, digits, '-', '_', '.'), or nil.
    static func interfaceNameProblem(_ name: String) -> DNSSettingsProblem? {
        guard !name.isEmpty else { return .empty }
        guard name.utf8.count <= maximumInterfaceNameLength else { return .tooLong }
        let allowed = name.utf8.allSatisfy { isLetterDigitHyphen($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
        guard allowed, name != ".", name != ".." else { return .invalidCharacter }
        return nil
    }

    /// Why `session` cannot name a session (1–128 bytes of letters, digits, '-', '_', '.', ':'), or nil.
    static func sessionProblem(_ session: String) -> DNSSettingsProblem? {
        guard !session.isEmpty else { return .empty }
        guard session.utf8.count <= maximumSessionLength else { return .tooLong }
        let allowed = session.utf8.allSatisfy {
            isLetterDigitHyphen($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":")
        }
        return allowed ? nil : .invalidCharacter
    }

    private static func isLetterDigitHyphen(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
    }
}
