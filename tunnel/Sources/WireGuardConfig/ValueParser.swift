// ValueParser: the value syntaxes shared by profile options and wg-quick lines — CIDR lists,
// address lists, domain lists, integers in a range, endpoints, keys. Errors name the option
// (or wg-quick key) and say what is wrong without quoting the value.

enum ValueParser {
    /// Comma-separated entries, each trimmed of spaces and tabs.
    static func entries(_ text: some StringProtocol) -> [Substring] {
        text.split(separator: ",", omittingEmptySubsequences: false).map { entry in
            var slice = Substring(entry)
            while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
            while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
            return slice
        }
    }

    static func cidrs(_ text: String, option: String, allowsEmpty: Bool = false) throws(WireGuardConfigError) -> [WireGuardCIDR] {
        if text.isEmpty {
            guard allowsEmpty else { throw .invalidValue(option: option, reason: "at least one address/prefix is required") }
            return []
        }
        var result: [WireGuardCIDR] = []
        for (index, entry) in entries(text).enumerated() {
            guard let cidr = WireGuardCIDR(entry) else {
                throw .invalidValue(option: option, reason: "entry \(index + 1) is not an IP address with an optional /prefix in range")
            }
            result.append(cidr)
        }
        return result
    }

    static func addresses(_ text: String, option: String) throws(WireGuardConfigError) -> [WireGuardIPAddress] {
        var result: [WireGuardIPAddress] = []
        for (index, entry) in entries(text).enumerated() {
            guard let address = WireGuardIPAddress(entry) else {
                throw .invalidValue(option: option, reason: "entry \(index + 1) is not an IPv4 or IPv6 address")
            }
            result.append(address)
        }
        return result
    }

    static func domains(_ text: String, option: String) throws(WireGuardConfigError) -> [String] {
        var result: [String] = []
        for (index, entry) in entries(text).enumerated() {
            guard DomainName.isValid(entry) else { throw .invalidValue(option: option, reason: "entry \(index + 1) is not a domain name") }
            result.append(String(entry))
        }
        return result
    }

    /// Decimal digits only (no sign, no leading zeros), within `range`.
    static func integer(_ text: some StringProtocol, in range: ClosedRange<Int>, option: String) throws(WireGuardConfigError) -> Int {
        let reason = "must be a whole number \(range.lowerBound)–\(range.upperBound)"
        guard (1...6).contains(text.utf8.count), text.utf8.allSatisfy(WireGuardIPAddress.isDigit), text == "0" || text.first != "0",
            let value = Int(text)
        else { throw .invalidValue(option: option, reason: reason) }
        guard range.contains(value) else { throw .invalidValue(option: option, reason: reason) }
        return value
    }

    static func endpoint(_ text: some StringProtocol, option: String) throws(WireGuardConfigError) -> WireGuardEndpoint {
        switch WireGuardEndpoint.parse(text) {
        case .success(let endpoint): return endpoint
        case .failure(.hostName): throw .endpointIsHostName(option: option)
        case .failure(.malformed):
            throw .invalidValue(option: option, reason: "must be IPv4:port or [IPv6]:port with a port 1–65535")
        }
    }

    static func key(_ text: some StringProtocol, option: String) throws(WireGuardConfigError) -> WireGuardKey {
        guard let key = WireGuardKey(base64: text) else { throw badKey(option) }
        return key
    }

    static func badKey(_ option: String) -> WireGuardConfigError {
        .invalidValue(option: option, reason: "must be the base64 of exactly 32 bytes (as `wg genkey` prints)")
    }
}
