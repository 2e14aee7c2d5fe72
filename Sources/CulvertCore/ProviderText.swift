// ProviderText: the bounds on text a provider hands culvertd (issue 11, item 6), in one place, and
// the two ways such text is made harmless — clipped where it enters culvertd, escaped where a
// controller shows it on a terminal. Hand-written: the limits and the visible escapes are Culvert's.

/// How much provider-supplied text culvertd keeps or serves. The provider's output log has its own
/// named bounds (`ProcessLog.defaultMaximumLineLength`, 4096 bytes a line, and
/// `defaultMaximumBytes`); a failure report carries at most `ProviderRun.failureLogLines` of them.
public enum ProviderTextLimits {
    /// A reason or error text: CancelTunnel's `error`, a StartTunnel error, any failure description.
    public static let maximumReasonBytes = 4096
    /// One line of a provider's log carried in a failure report.
    public static let maximumLogLineBytes = 4096
    /// Log lines in one failure report.
    public static let maximumLogLines = 64
    /// `tunnelRemoteAddress` (an address or a DNS name: at most 253 characters).
    public static let maximumRemoteAddressBytes = 255
}

extension String {
    /// The text cut to at most `limit` UTF-8 bytes, the mark "…(clipped, N bytes)" included (N
    /// the original size), on a character boundary; unchanged if it fits, so clipping twice to
    /// the same limit changes nothing.
    public func clipped(toBytes limit: Int) -> String {
        let size = utf8.count
        guard size > limit else { return self }
        let mark = "…(clipped, \(size) bytes)"
        let budget = max(0, limit - mark.utf8.count)
        var kept = 0
        var end = startIndex
        for character in self {
            let width = character.utf8.count
            guard kept + width <= budget else { break }
            kept += width
            end = index(after: end)
        }
        return String(self[..<end]) + mark
    }

    /// The text safe to write to a terminal: every control character — C0 (U+0000–U+001F, ESC
    /// among them), DEL (U+007F) and C1 (U+0080–U+009F) — written visibly as `\xHH`, and a
    /// backslash as `\\` so an escape cannot be forged. Newlines and tabs are escaped too: one
    /// provider string stays one line.
    public var terminalSafe: String { escapingControls(keepingNewlines: false, escapingBackslash: true) }

    /// The last guard where whole output lines are written (they may hold provider strings already
    /// made `terminalSafe`): control characters other than a newline escaped as `\xHH`,
    /// backslashes left alone, so text that is safe already comes out unchanged.
    public var controlCharactersEscaped: String { escapingControls(keepingNewlines: true, escapingBackslash: false) }

    private func escapingControls(keepingNewlines: Bool, escapingBackslash: Bool) -> String {
        func needs(_ scalar: Unicode.Scalar) -> Bool {
            (scalar.isTerminalControl && !(keepingNewlines && scalar == "\n")) || (escapingBackslash && scalar == "\\")
        }
        guard unicodeScalars.contains(where: needs) else { return self }
        var result = ""
        result.reserveCapacity(utf8.count + 8)
        for scalar in unicodeScalars {
            if !needs(scalar) {
                result.unicodeScalars.append(scalar)
            } else if scalar == "\\" {
                result += "\\\\"
            } else {
                let hex = String(scalar.value, radix: 16, uppercase: false)
                result += "\\x" + (hex.count < 2 ? "0" + hex : hex)
            }
        }
        return result
    }
}

extension Unicode.Scalar {
    /// C0, DEL and C1: what a terminal may act on instead of showing.
    fileprivate var isTerminalControl: Bool { value < 0x20 || (0x7F...0x9F).contains(value) }
}
