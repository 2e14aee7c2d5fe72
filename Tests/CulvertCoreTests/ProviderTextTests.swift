// ProviderTextTests: provider text clipped to its named limits and escaped for terminals.

import XCTest

@testable import CulvertCore

final class ProviderTextTests: XCTestCase {
    func testClippingKeepsShortTextAndMarksLongText() {
        XCTAssertEqual("short".clipped(toBytes: 10), "short")
        // The mark counts: "…(clipped, 30 bytes)" is 22 bytes, so 4 of the text fit in 26.
        let long = String(repeating: "abcdefghij", count: 3)
        XCTAssertEqual(long.clipped(toBytes: 26), "abcd…(clipped, 30 bytes)")
        XCTAssertEqual(long.clipped(toBytes: 26).clipped(toBytes: 26), "abcd…(clipped, 30 bytes)", "clipping twice changes nothing")
        // Never inside a character: "é" is two bytes.
        XCTAssertEqual(("a" + String(repeating: "é", count: 20)).clipped(toBytes: 25), "aé…(clipped, 41 bytes)")
    }

    func testFailureIsBoundedWhateverTheProviderSent() {
        let huge = String(repeating: "x", count: 15 * 1024 * 1024)
        let failure = SessionFailure(
            reason: .providerCancelled, description: huge, log: Array(repeating: huge, count: ProviderTextLimits.maximumLogLines + 5))
        XCTAssertLessThanOrEqual(failure.description.utf8.count, ProviderTextLimits.maximumReasonBytes)
        XCTAssertTrue(failure.description.hasSuffix("…(clipped, \(huge.utf8.count) bytes)"))
        XCTAssertEqual(failure.log.count, ProviderTextLimits.maximumLogLines)
        XCTAssertTrue(failure.log.allSatisfy { $0.utf8.count <= ProviderTextLimits.maximumLogLineBytes })
    }

    func testTerminalSafeEscapesEveryControlVisibly() throws {
        XCTAssertEqual("plain text, ünïcode → ok".terminalSafe, "plain text, ünïcode → ok")
        XCTAssertEqual("\u{1b}[31mred\u{1b}[0m".terminalSafe, "\\x1b[31mred\\x1b[0m")
        XCTAssertEqual("a\nb\tc\r\u{0}\u{7f}".terminalSafe, "a\\x0ab\\x09c\\x0d\\x00\\x7f")
        XCTAssertEqual("\u{9b}2J\u{85}".terminalSafe, "\\x9b2J\\x85")
        // A backslash cannot forge an escape.
        XCTAssertEqual("\\x1b".terminalSafe, "\\\\x1b")
        let controls: [UInt32] = Array(0..<0x20) + [0x7f] + Array(0x80...0x9f)
        for value in controls {
            let escaped = String(Character(try XCTUnwrap(Unicode.Scalar(value)))).terminalSafe
            XCTAssertFalse(escaped.unicodeScalars.contains { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) }, "\(value)")
        }
    }

    func testLineGuardKeepsNewlinesAndSafeText() {
        let safe = "\u{1b}]0;title\u{7}".terminalSafe
        XCTAssertEqual(safe.controlCharactersEscaped, safe)
        XCTAssertEqual("one\ntwo\u{1b}[2J".controlCharactersEscaped, "one\ntwo\\x1b[2J")
    }
}
