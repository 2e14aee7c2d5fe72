// IPEndpoint: an IP address and a UDP/TCP port, as a provider's peer or a socket's bound address
// is written: "10.1.2.3:51820" or "[fd00::1]:51820". Parsed and validated before any socket sees it.

/// The longest endpoint text accepted ("[" + 45-character IPv6 text + "]:65535"); longer input is
/// refused before parsing.
private let maximumEndpointTextLength = 64

/// Why an endpoint text was refused.
public struct IPEndpointError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: String, Sendable, Hashable {
        /// No ":port" after the address.
        case missingPort
        /// The port is not a decimal number from 0 to 65535.
        case invalidPort
        /// The address is not IPv4 or IPv6 text (IPv6 zone indices such as "%eth0" are not accepted).
        case invalidAddress
        /// An IPv6 address must be written in brackets, "[fd00::1]:51820"; brackets around IPv4 are refused.
        case invalidBrackets
        /// The text is longer than any valid endpoint.
        case tooLong
    }

    public var text: String
    public var reason: Reason

    public init(text: String, reason: Reason) {
        self.text = text
        self.reason = reason
    }

    public var description: String { "invalid IP endpoint \"\(text)\": \(reason.rawValue)" }
}

/// An IPv4 or IPv6 address with a port.
public struct IPEndpoint: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    /// Host order; 0 asks `bind` for an ephemeral port.
    public let port: UInt16
    public var family: IPFamily { address.family }

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// Parses "a.b.c.d:port" or "[ipv6]:port".
    public init(_ text: String) throws(IPEndpointError) {
        guard text.utf8.count <= maximumEndpointTextLength else { throw IPEndpointError(text: text, reason: .tooLong) }
        let addressText: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw IPEndpointError(text: text, reason: .invalidBrackets) }
            addressText = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard let colon = rest.first else { throw IPEndpointError(text: text, reason: .missingPort) }
            guard colon == ":" else { throw IPEndpointError(text: text, reason: .invalidBrackets) }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw IPEndpointError(text: text, reason: .missingPort) }
            addressText = text[..<colon]
            // More than one colon outside brackets: an IPv6 address without them (the port is ambiguous).
            guard !addressText.contains(":") else { throw IPEndpointError(text: text, reason: .invalidBrackets) }
            portText = text[text.index(after: colon)...]
        }
        guard !portText.isEmpty else { throw IPEndpointError(text: text, reason: .missingPort) }
        guard portText.utf8.count <= 5, portText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let port = UInt16(portText)
        else { throw IPEndpointError(text: text, reason: .invalidPort) }
        let address: IPAddress
        do throws(IPPrefixError) {
            address = try IPAddress(String(addressText))
        } catch {
            throw IPEndpointError(text: text, reason: .invalidAddress)
        }
        guard (address.family == .ipv6) == text.hasPrefix("[") else { throw IPEndpointError(text: text, reason: .invalidBrackets) }
        self.init(address: address, port: port)
    }

    /// "10.1.2.3:51820" or "[fd00::1]:51820".
    public var description: String {
        switch family {
        case .ipv4: "\(address):\(port)"
        case .ipv6: "[\(address)]:\(port)"
        }
    }
}
