// Output: how culvertctl writes — text or JSON to stdout, one-line errors to stderr.

import CulvertClient
import CulvertCore
import CulvertSystem
import FoundationEssentials

/// Writes results. Every line is written through immediately, so `watch` output reaches a pipe
/// as it happens.
struct Output: Sendable {
    let json: Bool

    /// Writes `text` and a newline to standard output. Control characters are escaped here, the
    /// last guard: provider strings are made `terminalSafe` where they are rendered, and JSON
    /// escapes every control character itself.
    func line(_ text: String) {
        // try?: nowhere left to report a failed write.
        try? Descriptor.standardOutput.writeAll((text.controlCharactersEscaped + "\n").utf8)
    }

    /// Writes `value` as one line of JSON (sorted keys) to standard output. JSON escapes C0
    /// controls itself; DEL and C1 (which it may write raw) are written as `\u00XX` here — the
    /// same JSON value, nothing a terminal acts on.
    func json(_ value: some Encodable) {
        // try?: nowhere left to report a failed write.
        try? Descriptor.standardOutput.writeAll((Self.encode(value) + "\n").utf8)
    }

    /// Writes each row with its columns padded to the widest cell, two spaces apart.
    func table(_ rows: [[String]], indent: String = "") {
        for row in Self.aligned(rows) { line(indent + row) }
    }

    static func aligned(_ rows: [[String]]) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[i] - cell.count))
            }.joined(separator: "  ")
        }
    }

    /// Reports a failure on standard error: one line, JSON with --json.
    func report(_ failure: CommandFailure) {
        var text: String
        if json {
            let error = ErrorLine.Detail(code: failure.code, message: failure.message, hint: failure.hint, log: failure.log)
            text = Self.encode(ErrorLine(error: error, exitCode: failure.status.rawValue))
        } else {
            text = "culvertctl: error: \(failure.message)"
            if let hint = failure.hint { text += " (\(hint))" }
            if let log = failure.log {
                text += log.isEmpty ? "\nthe provider logged nothing" : "\nthe provider's last \(log.count) log lines:"
                for line in log { text += "\n  " + line.terminalSafe }
            }
        }
        // try?: nowhere left to report a failed write.
        try? Descriptor.standardError.writeAll((text.controlCharactersEscaped + "\n").utf8)
    }

    /// Writes a note for a person to standard error (never mixed into the data on stdout).
    func note(_ text: String) {
        // try?: nowhere left to report a failed write.
        try? Descriptor.standardError.writeAll(("culvertctl: " + text.controlCharactersEscaped + "\n").utf8)
    }

    private struct ErrorLine: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var hint: String?
            var log: [String]?
        }

        var error: Detail
        var exitCode: Int32
    }

    static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Only culvertctl's own Codable types reach here (strings, integers, bools, arrays, maps),
        // whose encoding has no failing case.
        let text = String(decoding: try! encoder.encode(value), as: UTF8.self)
        guard text.unicodeScalars.contains(where: { (0x7F...0x9F).contains($0.value) }) else { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            if (0x7F...0x9F).contains(scalar.value) {
                escaped += "\\u00" + String(scalar.value, radix: 16)
            } else {
                escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }
}
