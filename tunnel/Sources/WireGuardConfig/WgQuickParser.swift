// WgQuickParser: reads the wg-quick(8) configuration format into a WireGuardConfiguration, and
// refuses — with the line and a typed error — everything that would run code (PreUp…PostDown),
// write the file (SaveConfig) or fight culvertd's routing (a numeric Table, an FwMark), and every
// key, section or value it does not know. Hand-written: no Swift library reads this format.
// The input is hostile: bounded to 1 MiB and 256 peers, scanned byte by byte, never echoed.

public enum WgQuickParser {
    public static let maximumInputBytes = 1 << 20
    /// Entries of one repeatable key in one section; more cannot fit a profile option anyway
    /// (the shortest entry, `::/0`, takes 5 bytes of a 4,096-byte value).
    public static let maximumListEntries = 1024

    public static func parse(_ text: String) throws(WgQuickError) -> WireGuardConfiguration {
        guard text.utf8.count <= maximumInputBytes else { throw WgQuickError(line: nil, .inputTooLarge(maximum: maximumInputBytes)) }
        return try parse(bytes: Array(text.utf8))
    }

    /// The same, from a file's bytes: invalid UTF-8 is refused with its line.
    public static func parse(bytes: [UInt8]) throws(WgQuickError) -> WireGuardConfiguration {
        guard bytes.count <= maximumInputBytes else { throw WgQuickError(line: nil, .inputTooLarge(maximum: maximumInputBytes)) }
        var state = WgQuickState()
        var start = 0
        var lineNumber = 0
        while start < bytes.count || (start == bytes.count && lineNumber == 0) {
            lineNumber += 1
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            var lineEnd = end
            if lineEnd > start && bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            try parseLine(bytes[start..<lineEnd], number: lineNumber, into: &state)
            start = end + 1
        }
        return try state.finish()
    }

    private static func parseLine(_ raw: ArraySlice<UInt8>, number: Int, into state: inout WgQuickState) throws(WgQuickError) {
        if raw.contains(where: { ($0 < 0x20 && $0 != UInt8(ascii: "\t")) || $0 == 0x7F }) {
            throw WgQuickError(line: number, .controlCharacter)
        }
        guard let decoded = String(validating: raw, as: UTF8.self) else { throw WgQuickError(line: number, .invalidUTF8) }
        let uncommented = decoded.firstIndex(of: "#").map { decoded[..<$0] } ?? Substring(decoded)
        let line = trimmed(uncommented)
        if line.isEmpty { return }
        if line.hasPrefix("[") {
            guard line.hasSuffix("]"), line.count >= 2 else { throw WgQuickError(line: number, .malformedLine) }
            let name = trimmed(line.dropFirst().dropLast())
            switch name.lowercased() {
            case "interface": try state.beginInterface(line: number)
            case "peer": try state.beginPeer(line: number)
            default: throw WgQuickError(line: number, .unknownSection(Shown.name(name)))
            }
            return
        }
        guard let equals = line.firstIndex(of: "=") else { throw WgQuickError(line: number, .malformedLine) }
        let key = trimmed(line[..<equals])
        let value = trimmed(line[line.index(after: equals)...])
        guard !key.isEmpty else { throw WgQuickError(line: number, .malformedLine) }
        try state.apply(key: key, value: value, line: number)
    }

    static func trimmed(_ text: Substring) -> Substring {
        var slice = text
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return slice
    }
}
