// ProcessLogRunTests: the run-wise `append` keeps exactly the lines the byte-wise definition gives
// (newline ends a line, a trailing CR is dropped, a line is cut at maximumLineLength and a newline
// right after a cut ends nothing), whatever the chunking, and the limits drop the oldest lines.

import CulvertSystem
import XCTest

final class ProcessLogRunTests: XCTestCase {
    /// The definition, byte by byte (what ProcessLog did before it worked in runs).
    private struct Reference {
        let maximumLines: Int, maximumBytes: Int, maximumLineLength: Int
        var lines: [String] = []
        var dropped = 0
        var retained = 0
        var partial: [UInt8] = []
        var justCut = false

        mutating func append(_ bytes: [UInt8]) {
            for byte in bytes {
                if byte == 10 {
                    if !(justCut && partial.isEmpty) { complete() }
                    justCut = false
                } else {
                    justCut = false
                    partial.append(byte)
                    if partial.count >= maximumLineLength {
                        complete()
                        justCut = true
                    }
                }
            }
        }

        mutating func complete() {
            if partial.last == 13 { partial.removeLast() }
            let line = String(decoding: partial, as: UTF8.self)
            partial.removeAll()
            lines.append(line)
            retained += line.utf8.count
            while lines.count > maximumLines || (retained > maximumBytes && lines.count > 1) {
                retained -= lines.removeFirst().utf8.count
                dropped += 1
            }
        }
    }

    func testRunWiseAppendEqualsTheByteWiseDefinitionForRandomOutput() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<200 {
            let lineLength = [1, 2, 7, 64].randomElement(using: &generator) ?? 7
            let maxLines = Int.random(in: 1...20, using: &generator)
            var log = ProcessLog(
                maximumLines: maxLines, maximumBytes: 3 * lineLength + Int.random(in: 0...200), maximumLineLength: lineLength)
            var reference = Reference(maximumLines: log.maximumLines, maximumBytes: log.maximumBytes, maximumLineLength: lineLength)
            let alphabet: [UInt8] = [10, 13, 65, 66, 0xC3, 0xA9, 0xFF]
            let output = (0..<Int.random(in: 0...2000, using: &generator)).map { _ in alphabet.randomElement(using: &generator) ?? 65 }
            var index = 0
            while index < output.count {
                let size = Int.random(in: 1...300, using: &generator)
                let chunk = Array(output[index..<min(output.count, index + size)])
                log.append(chunk)
                reference.append(chunk)
                index += size
            }
            XCTAssertEqual(log.lines, reference.lines, "round \(round)")
            XCTAssertEqual(log.droppedLineCount, reference.dropped, "round \(round)")
            XCTAssertEqual(log.retainedBytes, reference.retained, "round \(round)")
            XCTAssertEqual(log.lastLines(3), Array(reference.lines.suffix(3)), "round \(round)")
        }
    }

    /// Megabytes on one line (a provider echoing a large message) end as cut pieces within the limits.
    func testAHugeLineIsCutAndBounded() {
        var log = ProcessLog()
        let line = [UInt8](repeating: 65, count: 8 * 1024 * 1024) + [10]
        var index = 0
        while index < line.count {
            log.append(line[index..<min(line.count, index + 65536)])
            index += 65536
        }
        XCTAssertEqual(log.lines.count, ProcessLog.defaultMaximumBytes / ProcessLog.defaultMaximumLineLength)
        XCTAssertLessThanOrEqual(log.retainedBytes, ProcessLog.defaultMaximumBytes)
        XCTAssertEqual(log.droppedLineCount, 8 * 1024 * 1024 / ProcessLog.defaultMaximumLineLength - log.lines.count)
        XCTAssertTrue(log.lines.allSatisfy { $0.utf8.count == ProcessLog.defaultMaximumLineLength })
    }
}
