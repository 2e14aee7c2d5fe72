// IPPrefix: typed IPv4/IPv6 addresses, network prefixes and interface addresses, parsed and
// validated before anything reaches netlink. No C types cross this file's public surface.

#if canImport(Glibc)
    import Glibc
#endif

/// The longest prefix text accepted ("ffff:…:ffff/128" is 43 characters); longer input is refused
/// before parsing.
private let maximumPrefixTextLength = 64

/// An address family Culvert configures.
public enum IPFamily: String, Sendable, Hashable, CaseIterable {
    case ipv4
    case ipv6

    /// Address size in bytes: 4 or 16.
    public var byteCount: Int { self == .ipv4 ? 4 : 16 }
    /// The longest prefix length: 32 or 128.
    public var maximumPrefixLength: Int { byteCount * 8 }
    /// The AF_* value, for the netlink files of this module only.
    var addressFamily: Int32 { self == .ipv4 ? Int32(AF_INET) : Int32(AF_INET6) }
}

/// Why a prefix or address text was refused.
public struct IPPrefixError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: String, Sendable, Hashable {
        /// Not an IPv4 or IPv6 address.
        case invalidAddress
        /// A network prefix needs "/length".
        case missingLength
        /// The text after "/" is not a decimal number.
        case invalidLength
        /// The length is larger than 32 (IPv4) or 128 (IPv6).
        case lengthOutOfRange
        /// A network prefix has bits set after its length, e.g. 10.0.0.1/24.
        case hostBitsSet
        /// The text is longer than any valid prefix.
        case tooLong
    }

    public var text: String
    public var reason: Reason

    public init(text: String, reason: Reason) {
        self.text = text
        self.reason = reason
    }

    public var description: String { "invalid IP prefix \"\(text)\": \(reason.rawValue)" }
}

/// An IPv4 or IPv6 address, as its network-order bytes.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public let family: IPFamily
    /// 4 or 16 bytes, network order.
    public let bytes: [UInt8]

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text. The corresponding C function is `inet_pton`.
    public init(_ text: String) throws(IPPrefixError) {
        guard text.utf8.count <= maximumPrefixTextLength else { throw IPPrefixError(text: text, reason: .tooLong) }
        let family: IPFamily = text.contains(":") ? .ipv6 : .ipv4
        var buffer = [UInt8](repeating: 0, count: family.byteCount)
        let rc = buffer.withUnsafeMutableBytes { inet_pton(family.addressFamily, text, $0.baseAddress) }
        guard rc == 1 else { throw IPPrefixError(text: text, reason: .invalidAddress) }
        self.family = family
        self.bytes = buffer
    }

    /// An address from its bytes; nil unless there are exactly 4 or 16.
    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: family = .ipv4
        case 16: family = .ipv6
        default: return nil
        }
        self.bytes = bytes
    }

    /// The all-zero address of `family` (0.0.0.0 or ::).
    public static func unspecified(_ family: IPFamily) -> IPAddress {
        // Force unwrap: 4 and 16 are the two sizes init(bytes:) accepts.
        IPAddress(bytes: [UInt8](repeating: 0, count: family.byteCount))!
    }

    /// Canonical text. The corresponding C function is `inet_ntop`.
    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(family.addressFamily, raw.baseAddress, &text, socklen_t(text.count)) != nil
        }
        guard ok else { return bytes.map(String.init).joined(separator: ".") }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True if every bit after the first `length` bits is zero.
    func hasZeroHostBits(afterLength length: Int) -> Bool {
        for (index, byte) in bytes.enumerated() {
            let firstBit = index * 8
            if firstBit + 8 <= length { continue }
            let keep = max(0, length - firstBit)  // leading bits of this byte inside the prefix
            let hostMask: UInt8 = keep == 0 ? 0xFF : UInt8(0xFF) >> UInt8(keep)
            if byte & hostMask != 0 { return false }
        }
        return true
    }

    /// This address with every bit after the first `length` bits cleared.
    func masked(toLength length: Int) -> IPAddress {
        let cleared = bytes.enumerated().map { index, byte -> UInt8 in
            let keep = min(8, max(0, length - index * 8))
            return keep == 8 ? byte : byte & ~(UInt8(0xFF) >> UInt8(keep))
        }
        // Force unwrap: same byte count as self.
        return IPAddress(bytes: cleared)!
    }
}

/// Splits "address/length" and parses both halves; the length is nil when there is no "/".
private func parseAddressAndLength(_ text: String) throws(IPPrefixError) -> (IPAddress, Int?) {
    guard text.utf8.count <= maximumPrefixTextLength else { throw IPPrefixError(text: text, reason: .tooLong) }
    let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    let address = try IPAddress(String(parts[0]))
    guard parts.count == 2 else { return (address, nil) }
    guard !parts[1].isEmpty, parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber), parts[1].count <= 3,
        let length = Int(parts[1])
    else { throw IPPrefixError(text: text, reason: .invalidLength) }
    guard length <= address.family.maximumPrefixLength else { throw IPPrefixError(text: text, reason: .lengthOutOfRange) }
    return (address, length)
}

/// A network prefix: an address whose bits after `length` are all zero, e.g. 10.77.1.0/24.
public struct IPPrefix: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let length: Int
    public var family: IPFamily { address.family }

    /// Parses "address/length". Refuses a missing length, a length out of range and set host bits.
    public init(_ text: String) throws(IPPrefixError) {
        let (address, length) = try parseAddressAndLength(text)
        guard let length else { throw IPPrefixError(text: text, reason: .missingLength) }
        try self.init(address: address, length: length)
    }

    /// A prefix from parts. Refuses a length out of range and set host bits.
    public init(address: IPAddress, length: Int) throws(IPPrefixError) {
        let text = "\(address)/\(length)"
        guard (0...address.family.maximumPrefixLength).contains(length) else {
            throw IPPrefixError(text: text, reason: .lengthOutOfRange)
        }
        guard address.hasZeroHostBits(afterLength: length) else { throw IPPrefixError(text: text, reason: .hostBitsSet) }
        self.address = address
        self.length = length
    }

    /// The default route's prefix: 0.0.0.0/0 or ::/0.
    public static func defaultRoute(_ family: IPFamily) -> IPPrefix {
        // Force try: the unspecified address with length 0 is always a valid prefix.
        try! IPPrefix(address: .unspecified(family), length: 0)
    }

    public var description: String { "\(address)/\(length)" }

    /// Whether `address` lies in this prefix.
    public func contains(_ other: IPAddress) -> Bool {
        other.family == family && other.masked(toLength: length) == address
    }

    /// Whether the two prefixes share any address (one contains the other).
    public func overlaps(_ other: IPPrefix) -> Bool {
        guard other.family == family else { return false }
        return length <= other.length ? contains(other.address) : other.contains(address)
    }
}

/// An address assigned to an interface with its prefix length, e.g. 10.77.0.2/32 or 10.77.0.2/24.
/// Unlike `IPPrefix`, host bits are the point.
public struct InterfaceAddress: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int
    public var family: IPFamily { address.family }

    /// Parses "address/length", or a bare address as a host address (/32 or /128).
    public init(_ text: String) throws(IPPrefixError) {
        let (address, length) = try parseAddressAndLength(text)
        self.address = address
        self.prefixLength = length ?? address.family.maximumPrefixLength
    }

    /// An interface address from parts. Refuses a length out of range.
    public init(address: IPAddress, prefixLength: Int) throws(IPPrefixError) {
        guard (0...address.family.maximumPrefixLength).contains(prefixLength) else {
            throw IPPrefixError(text: "\(address)/\(prefixLength)", reason: .lengthOutOfRange)
        }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// The network this address is on.
    public var network: IPPrefix {
        // Force try: a masked address with an in-range length is always a valid prefix.
        try! IPPrefix(address: address.masked(toLength: prefixLength), length: prefixLength)
    }

    public var description: String { "\(address)/\(prefixLength)" }

    /// IPv6 fe80::/10, which the kernel adds to every link that comes up.
    public var isLinkLocal: Bool { address.family == .ipv6 && address.bytes[0] == 0xfe && address.bytes[1] & 0xc0 == 0x80 }
}
