// ProviderChannelAbuseTests: a hostile provider against the channel's bounds (issue 11, item 6) —
// terminal escape sequences in its log, a 15 MiB cancel reason, and a Protect call with more
// descriptors than Protect takes. The test provider misbehaves on app messages (print-escapes,
// cancel-huge, protect-many; see Tests/Fixtures/culvert-test-provider/TestProvider.swift).

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class ProviderChannelAbuseTests: XCTestCase {
    func testEscapeSequencesReachNoTerminal() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        try h.connect("lab")
        let socket = ["--socket", h.daemon.socketPath]
        let sent = try culvertctl(socket + ["message", "lab", "print-escapes"])
        XCTAssertEqual(sent.status, 0, sent.stderr)
        let log = try culvertctl(socket + ["session", "log", "lab"])
        XCTAssertEqual(log.status, 0, log.stderr)
        XCTAssertTrue(log.stdout.contains(#"escapes: \x1b[31mred\x1b[0m \x1b]0;pwned\x07 \x9b2J done"#), log.stdout)
        XCTAssertFalse(log.stdout.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "a control character reached stdout")
        XCTAssertFalse(log.stdout.unicodeScalars.contains { (0x7f...0x9f).contains($0.value) }, "a C1 control reached stdout")
        // --json stays exact: JSON escapes the bytes, and decoding gives the provider's text back.
        let json = try culvertctl(socket + ["--json", "session", "log", "lab"])
        XCTAssertEqual(json.status, 0, json.stderr)
        XCTAssertFalse(json.stdout.contains("\u{1b}"))
        let decoded = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let lines = try XCTUnwrap(decoded["lines"] as? [String])
        XCTAssertTrue(lines.contains { $0.contains("escapes: \u{1b}[31mred\u{1b}[0m \u{1b}]0;pwned\u{07} \u{9b}2J done") }, "\(lines)")
    }

    func testHugeCancelReasonIsClipped() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        try h.connect("lab")
        _ = try culvertctl(["--socket", h.daemon.socketPath, "message", "lab", "cancel-huge"])
        let session = try XCTUnwrap(h.waitForSession("lab") { $0["state"]?.stringValue == "disconnected" })
        XCTAssertEqual(session["state"]?.stringValue, "disconnected")
        XCTAssertEqual(session["failure"]?["reason"]?.stringValue, "provider_cancelled")
        let description = session["failure"]?["description"]?.stringValue ?? ""
        XCTAssertTrue(description.hasSuffix("…(clipped, \(15 * 1024 * 1024) bytes)"), String(description.suffix(80)))
        let status = try culvertctl(["--socket", h.daemon.socketPath, "--json", "status"])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertLessThan(status.stdout.utf8.count, 256 * 1024, "GetStatus stays small")
    }

    func testExcessDescriptorsEndTheSessionAtOnce() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"])
        try h.connect("lab")
        _ = try culvertctl(["--socket", h.daemon.socketPath, "message", "lab", "protect-many"])
        let session = try XCTUnwrap(h.waitForSession("lab") { $0["state"]?.stringValue == "disconnected" })
        XCTAssertEqual(session["state"]?.stringValue, "disconnected", "the session must not stay connected")
        XCTAssertEqual(session["failure"]?["reason"]?.stringValue, "protocol_violation")
        XCTAssertTrue((session["failure"]?["description"]?.stringValue ?? "").contains("Protect"), "\(session)")
    }

    private func culvertctl(_ arguments: [String]) throws -> CommandResult {
        let command = try BackgroundCommand([Products.path(of: "culvertctl")] + arguments)
        defer { command.kill() }
        return try command.wait()
    }
}
