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
    public var lines: [String] { Array(storage[head...]) }
    /// The retained lines are `storage[head...]`: dropping the oldest moves `head` instead of
    /// shifting the array once per line (a provider printing megabytes makes thousands of cut lines).
    private var storage: [String] = []
    private var head = 0
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

    /// Adds output bytes as they arrived from the pipe (any chunking). Works in runs — up to the
    /// next newline or the line-length cut — not byte by byte: this runs on culvertd's manager
    /// queue for whatever a (possibly hostile) provider prints.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        let all = Array(bytes)
        var rest = all[...]
        while !rest.isEmpty {
            // partial.count < maximumLineLength always holds here (a full line is cut at once).
            let window = rest.prefix(maximumLineLength - partial.count)
            if let newline = window.firstIndex(of: UInt8(ascii: "\n")) {
                let run = rest[rest.startIndex..<newline]
                if !run.isEmpty {
                    justCut = false
                    partial.append(contentsOf: run)
                }
                if !(justCut && partial.isEmpty) { completeLine() }
                justCut = false
                rest = rest[(newline + 1)...]
            } else {
                justCut = false
                partial.append(contentsOf: window)
                rest = rest[window.endIndex...]
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
        Array(storage[head...].suffix(max(0, count)))
    }

    private mutating func completeLine() {
        if partial.last == UInt8(ascii: "\r") { partial.removeLast() }
        let line = String(decoding: partial, as: UTF8.self)
        partial.removeAll(keepingCapacity: true)
        storage.append(line)
        retainedBytes += line.utf8.count
        while storage.count - head > maximumLines || (retainedBytes > maximumBytes && storage.count - head > 1) {
            retainedBytes -= storage[head].utf8.count
            head += 1
            droppedLineCount += 1
        }
        // Compact once the dropped prefix is as long as the limit: amortised O(1) per line.
        if head >= maximumLines {
            storage.removeFirst(head)
            head = 0
        }
    }

    public static func == (lhs: ProcessLog, rhs: ProcessLog) -> Bool {
        lhs.lines == rhs.lines && lhs.droppedLineCount == rhs.droppedLineCount && lhs.retainedBytes == rhs.retainedBytes
            && lhs.partial == rhs.partial && lhs.justCut == rhs.justCut && lhs.maximumLines == rhs.maximumLines
            && lhs.maximumBytes == rhs.maximumBytes && lhs.maximumLineLength == rhs.maximumLineLength
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(lines)
        hasher.combine(droppedLineCount)
        hasher.combine(partial)
    }
}
