// PrefixText: checks that a text is an IPv4 or IPv6 network prefix ("192.168.1.0/24",
// "fd00::/8"), for profile validation (the kill switch's exceptions). CulvertCore has no Glibc, so
// no inet_pton: hand-written, and deliberately strict — no embedded IPv4 in IPv6, no zone, no host
// bits after the length. CulvertSystem's IPPrefix parses the same texts for netlink.

/// A validated network prefix text: family and bytes, for validation only.
public struct PrefixText: Sendable, Hashable {
    /// The longest text accepted ("ffff:…:ffff/128" is 43 characters).
    public static let maximumLength = 64

    public let isIPv6: Bool
    /// 4 or 16 bytes, network order.
    public let bytes: [UInt8]
    public let length: Int

    /// nil unless `text` is "ADDRESS/LENGTH" with no host bits set after LENGTH.
    public init?(_ text: String) {
        guard text.utf8.count <= Self.maximumLength else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let length = Self.decimal(parts[1], maximum: 128) else { return nil }
        let isIPv6 = parts[0].contains(":")
        guard let bytes = isIPv6 ? Self.ipv6(parts[0]) : Self.ipv4(parts[0]) else { return nil }
        guard length <= bytes.count * 8 else { return nil }
        for bit in length..<(bytes.count * 8) where bytes[bit / 8] & (0x80 >> UInt8(bit % 8)) != 0 { return nil }
        self.isIPv6 = isIPv6
        self.bytes = bytes
        self.length = length
    }

    private static func decimal(_ text: Substring, maximum: Int) -> Int? {
        guard !text.isEmpty, text.count <= 3, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let value = Int(text), value <= maximum
        else { return nil }
        return value
    }

    private static func ipv4(_ text: Substring) -> [UInt8]? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for octet in octets {
            guard let value = decimal(octet, maximum: 255) else { return nil }
            bytes.append(UInt8(value))
        }
        return bytes
    }

    private static func ipv6(_ text: Substring) -> [UInt8]? {
        let characters = Array(text)
        var halves: [String] = []
        var start = 0
        var index = 0
        while index + 1 < characters.count {
            if characters[index] == ":" && characters[index + 1] == ":" {
                halves.append(String(characters[start..<index]))
                start = index + 2
                index += 2
            } else {
                index += 1
            }
        }
        halves.append(String(characters[start...]))
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var values: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                let isHex = group.utf8.allSatisfy {
                    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0 | 0x20)
                }
                guard (1...4).contains(group.count), isHex, let value = UInt16(group, radix: 16) else { return nil }
                values.append(value)
            }
            return values
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count <= 7 else { return nil }
            all += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }
}
