// ProcessLog: the last lines a provider wrote to stdout/stderr, bounded in lines and bytes, so a
// typed failure event can carry them without a chatty or hostile provider growing the daemon.

/// A bounded ring of output lines, oldest first. Feed it raw bytes with `append`; a line is
/// complete at `\n` (a trailing `\r` is dropped), and a line longer than `maximumLineLength` bytes
/// is cut into pieces of that length. When either limit is exceeded the oldest lines go.
public struct ProcessLog: Sendable, Hashable {
    /// Lines kept by default.
    public static let defaultMaximumLines = 256
    /// Bytes (UTF-8, without newlines) kept by default, over all retained lines.
    public static let defaultMaximumBytes = 64 * 1024
    /// Longest line kept whole by default; longer ones are cut.
    public static let defaultMaximumLineLength = 4096

    public let maximumLines: Int
    public let maximumBytes: Int
    public let maximumLineLength: Int

    /// Retained complete lines, oldest first.
    public private(set) var lines: [String] = []
    /// Complete lines that were dropped to stay within the limits.
    public private(set) var droppedLineCount = 0
    /// UTF-8 bytes of the retained lines.
    public private(set) var retainedBytes = 0
    /// Bytes of the line being written (no `\n` yet); at most `maximumLineLength`.
    private var partial: [UInt8] = []
    /// The last line was cut at `maximumLineLength` with nothing after it yet: a `\n` right now ends
    /// that line, not an empty one.
    private var justCut = false

    public init(
        maximumLines: Int = ProcessLog.defaultMaximumLines, maximumBytes: Int = ProcessLog.defaultMaximumBytes,
        maximumLineLength: Int = ProcessLog.defaultMaximumLineLength
    ) {
        // A cut line decodes to at most 3 bytes per byte (U+FFFD for invalid UTF-8), so one line always fits.
        precondition(maximumLines > 0 && maximumLineLength > 0 && maximumBytes >= 3 * maximumLineLength, "ProcessLog limits")
        self.maximumLines = maximumLines
        self.maximumBytes = maximumBytes
        self.maximumLineLength = maximumLineLength
    }

    /// Adds output bytes as they arrived from the pipe (any chunking).
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if !(justCut && partial.isEmpty) { completeLine() }
                justCut = false
            } else {
                justCut = false
                partial.append(byte)
                if partial.count >= maximumLineLength {
                    completeLine()
                    justCut = true
                }
            }
        }
    }

    /// Ends the output (end of file): an unterminated last line becomes a line.
    public mutating func finish() {
        if !partial.isEmpty { completeLine() }
    }

    /// The newest `count` lines (fewer if fewer are retained), oldest first.
    public func lastLines(_ count: Int) -> [String] {
        Array(lines.suffix(max(0, count)))
    }

    private mutating func completeLine() {
        if partial.last == UInt8(ascii: "\r") { partial.removeLast() }
        let line = String(decoding: partial, as: UTF8.self)
        partial.removeAll(keepingCapacity: true)
        lines.append(line)
        retainedBytes += line.utf8.count
        var drop = 0
        while lines.count - drop > maximumLines || (retainedBytes > maximumBytes && lines.count - drop > 1) {
            retainedBytes -= lines[drop].utf8.count
            drop += 1
        }
        if drop > 0 {
            lines.removeFirst(drop)
            droppedLineCount += drop
        }
    }
}
