// WireGuardIPAddress, WireGuardCIDR, WireGuardEndpoint: the address values of a WireGuard profile,
// parsed strictly and printed canonically (IPv6 as RFC 5952), so options round-trip exactly.
// Hand-written: WireGuardConfig is pure Swift with no system library (the provider and culvertctl
// both read profiles through it), and CulvertSystem's IP types need Glibc.

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address.
public struct WireGuardIPAddress: Sendable, Hashable, CustomStringConvertible {
    /// Network byte order; 4 or 16 bytes.
    public let bytes: [UInt8]

    public var isIPv4: Bool { bytes.count == 4 }

    /// Parses a dotted-quad IPv4 address (no leading zeros) or an IPv6 address (RFC 4291 text,
    /// `::` compression, an IPv4 tail); no zone (`%eth0`), no brackets. Nil for anything else.
    public init?(_ text: some StringProtocol) {
        if let v4 = Self.parseIPv4(Substring(text)) {
            bytes = v4
        } else if let v6 = Self.parseIPv6(Substring(text)) {
            bytes = v6
        } else {
            return nil
        }
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    public var description: String {
        if isIPv4 { return bytes.map(String.init).joined(separator: ".") }
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first on a tie.
        var best = (start: -1, length: 0)
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            let start = index
            while index < 8 && groups[index] == 0 { index += 1 }
            if index - start > best.length { best = (start, index - start) }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.length >= 2 else { return hex.joined(separator: ":") }
        let head = hex[..<best.start].joined(separator: ":")
        let tail = hex[(best.start + best.length)...].joined(separator: ":")
        return head + "::" + tail
    }

    static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var result: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.utf8.count), part.utf8.allSatisfy(isDigit), part == "0" || part.first != "0",
                let value = UInt8(part)
            else { return nil }
            result.append(value)
        }
        return result
    }

    static func parseIPv6(_ text: Substring) -> [UInt8]? {
        guard text.utf8.count <= 45, text.utf8.count >= 2 else { return nil }
        let halves = text.split(separator: "::", maxSplits: 2, omittingEmptySubsequences: false)
        guard halves.count <= 2 else { return nil }
        guard let head = parseGroups(halves[0], allowsIPv4Tail: halves.count == 1) else { return nil }
        if halves.count == 1 {
            guard head.count == 16 else { return nil }
            return head
        }
        guard let tail = parseGroups(halves[1], allowsIPv4Tail: true), head.count + tail.count <= 14 else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    /// Colon-separated hex groups (1–4 digits), the last of which may be a dotted quad.
    private static func parseGroups(_ text: Substring, allowsIPv4Tail: Bool) -> [UInt8]? {
        if text.isEmpty { return [] }
        let groups = text.split(separator: ":", omittingEmptySubsequences: false)
        var result: [UInt8] = []
        for (index, group) in groups.enumerated() {
            if allowsIPv4Tail && index == groups.count - 1 && group.contains(".") {
                guard let v4 = parseIPv4(group) else { return nil }
                result += v4
                continue
            }
            guard (1...4).contains(group.utf8.count), group.utf8.allSatisfy(isHexDigit), let value = UInt16(group, radix: 16) else {
                return nil
            }
            result += [UInt8(value >> 8), UInt8(value & 0xFF)]
        }
        return result.count <= 16 ? result : nil
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}

/// An address with a prefix length: an interface address (host bits kept) or an AllowedIPs
/// entry. `0.0.0.0/0` and `::/0` are the full-tunnel entries.
public struct WireGuardCIDR: Sendable, Hashable, CustomStringConvertible {
    public let address: WireGuardIPAddress
    /// 0–32 for IPv4, 0–128 for IPv6.
    public let prefixLength: Int

    public init?(address: WireGuardIPAddress, prefixLength: Int) {
        guard (0...address.bytes.count * 8).contains(prefixLength) else { return nil }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// `address/prefix`, or a bare address meaning a host route (/32, /128), as `wg` accepts.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = WireGuardIPAddress(parts[0]) else { return nil }
        guard parts.count == 2 else {
            self.init(address: address, prefixLength: address.bytes.count * 8)
            return
        }
        let prefix = parts[1]
        guard (1...3).contains(prefix.utf8.count), prefix.utf8.allSatisfy(WireGuardIPAddress.isDigit),
            prefix == "0" || prefix.first != "0", let length = Int(prefix)
        else { return nil }
        self.init(address: address, prefixLength: length)
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// A peer's UDP endpoint: an IP literal and a port 1–65535. Never a DNS name: culvertd resolves
/// nothing on a provider's behalf, and a name would be resolved outside the tunnel's policy.
public struct WireGuardEndpoint: Sendable, Hashable, CustomStringConvertible {
    public let address: WireGuardIPAddress
    public let port: UInt16

    public init?(address: WireGuardIPAddress, port: UInt16) {
        guard port != 0 else { return nil }
        self.address = address
        self.port = port
    }

    /// Why `init(parsing:)` refused a text.
    public enum ParseFailure: Error, Sendable, Equatable {
        case hostName
        case malformed
    }

    /// `1.2.3.4:51820` or `[2001:db8::1]:51820`.
    public static func parse(_ text: some StringProtocol) -> Result<WireGuardEndpoint, ParseFailure> {
        guard let colon = text.lastIndex(of: ":") else { return .failure(.malformed) }
        let host = text[..<colon]
        let portText = text[text.index(after: colon)...]
        guard (1...5).contains(portText.utf8.count), portText.utf8.allSatisfy(WireGuardIPAddress.isDigit),
            portText.first != "0", let port = UInt16(portText)
        else { return .failure(.malformed) }
        let address: WireGuardIPAddress?
        if host.hasPrefix("[") && host.hasSuffix("]") && host.count >= 2 {
            address = WireGuardIPAddress.parseIPv6(Substring(host.dropFirst().dropLast())).flatMap { WireGuardIPAddress(bytes: $0) }
        } else {
            address = WireGuardIPAddress.parseIPv4(Substring(host)).flatMap { WireGuardIPAddress(bytes: $0) }
        }
        guard let address else {
            return .failure(DomainName.isValid(host) && host.contains(where: \.isLetter) ? .hostName : .malformed)
        }
        // Non-nil: the port was checked above.
        return .success(WireGuardEndpoint(address: address, port: port)!)
    }

    public var description: String { address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)" }
}

/// DNS names as search domains (and to recognise a host name in an endpoint): labels of 1–63
/// letters, digits, `-`, `_`, dot-separated, at most 253 bytes; a trailing dot is allowed.
enum DomainName {
    static let maximumLength = 253
    static let maximumLabelLength = 63

    static func isValid(_ text: some StringProtocol) -> Bool {
        let name = text.hasSuffix(".") ? Substring(text.dropLast()) : Substring(text)
        guard !name.isEmpty, name.utf8.count <= maximumLength else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...maximumLabelLength).contains(label.utf8.count)
                && label.utf8.allSatisfy {
                    WireGuardIPAddress.isDigit($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0 | 0x20)
                        || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                }
        }
    }
}
