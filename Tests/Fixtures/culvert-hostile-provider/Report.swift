// Report: the fixture's stdout protocol, which culvertd keeps as the session log and the
// acceptance test parses:
//   ATTACK <name> <blocked|SUCCEEDED> <detail>   one attempt and what came of it (detail: an errno
//                                                 name, a typed refusal, or what the attack got)
//   PROGRESS <mode> <number>                      how far a resource attack got (forkbomb, memory)
//   NOTE <text>                                   anything else worth reading in the log
//   ATTACKS DONE                                  every attempt of the mode was made
// Every line is written with one write(2), so a kill between lines never leaves half a line.

#if canImport(Glibc)
    import Glibc
#endif

enum Report {
    /// Writes one line to stdout (fd 1, a pipe culvertd reads) in a single write.
    static func line(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    }

    /// One attempt: `result` is what the kernel (or culvertd) answered.
    static func attack<T>(_ name: String, _ result: Result<T, Errno>, got: (T) -> String = { "\($0)" }) {
        switch result {
        case .success(let value): line("ATTACK \(name) SUCCEEDED \(oneLine(got(value)))")
        case .failure(let error): line("ATTACK \(name) blocked \(error)")
        }
    }

    static func blocked(_ name: String, _ detail: String) { line("ATTACK \(name) blocked \(oneLine(detail))") }
    static func succeeded(_ name: String, _ detail: String) { line("ATTACK \(name) SUCCEEDED \(oneLine(detail))") }
    static func note(_ text: String) { line("NOTE \(oneLine(text))") }
    static func progress(_ mode: String, _ value: Int) { line("PROGRESS \(mode) \(value)") }
    static func done() { line("ATTACKS DONE") }

    /// Detail text on one line, printable ASCII only (the escapes mode prints its controls itself).
    static func oneLine(_ text: String) -> String {
        let clean = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7f ? $0 : "?" }))
        return clean.isEmpty ? "-" : String(clean.prefix(200))
    }
}
