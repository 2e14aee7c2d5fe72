// culvertd's metrics end to end (issue 16, item 3): `culvertctl metrics` passes `promtool check
// metrics` (Debian's prometheus package), its per-session counters move with traffic through the
// test provider, no label or value carries a secret or an option value, and the textfile that
// --metrics-textfile writes is served by Debian's prometheus-node-exporter (textfile collector,
// on the loopback of the lab's namespace A).

import CulvertSystem
import CulvertTesting
import Foundation
import XCTest

final class MetricsTests: XCTestCase {
    static let promtool = Repository.root + "/.build-tools/usr/bin/promtool"
    static let nodeExporter = Repository.root + "/.build-tools/usr/bin/prometheus-node-exporter"
    static let exporterAddress = "127.0.0.1:9187"
    static let secretValue = "SECRET-metrics-0123456789"
    /// How long node_exporter gets to serve the textfile's series (bounded poll).
    static let exporterDeadline: TimeInterval = 20

    func testMetricsPassPromtoolMoveWithTrafficAndReachNodeExporter() throws {
        for tool in [Self.promtool, Self.nodeExporter] where !FileManager.default.isExecutableFile(atPath: tool) {
            XCTFail("\(tool) is missing: scripts/install-deps unpacks it from Debian's prometheus and prometheus-node-exporter packages")
            return
        }
        let textfiles = try TemporaryDirectory(prefix: "culvert-metrics")
        try FileSystem.setMode(textfiles.path, 0o755)
        let h = try TunnelLab(test: self, daemonArguments: ["--metrics-textfile", textfiles.path])
        try h.saveProfile("lab", options: ["routes": "10.99.0.0/24"], secrets: ["token": Self.secretValue])
        try h.connect("lab")

        let first = try metrics(h)
        let check = try BackgroundCommand(["/bin/sh", "-c", "\(Self.promtool) check metrics"], stdin: first).wait()
        XCTAssertEqual(check.status, 0, "promtool: \(check.stdout)\(check.stderr)\n\(first)")
        XCTAssertEqual(Self.value(first, "culvert_session_up{profile=\"lab\"}"), 1)
        XCTAssertEqual(Self.value(first, "culvert_session_connect_duration_seconds_count{profile=\"lab\"}"), 1)
        XCTAssertNotNil(Self.value(first, "culvert_build_info{version=\"0.1.0\"}"), first)
        XCTAssertGreaterThanOrEqual(Self.value(first, "culvert_connections{class=\"admin\"}") ?? 0, 1, first)
        XCTAssertFalse(first.contains(Self.secretValue), "a secret in the metrics")
        XCTAssertFalse(first.contains("10.200.0.2"), "an option value (the peer) in the metrics")
        XCTAssertFalse(first.contains(h.directory.path), "a path in the metrics")

        let before = Self.value(first, "culvert_session_transmit_packets_total{profile=\"lab\"}") ?? 0
        let ping = try h.inA(["ping", "-c", "20", "-i", "0.05", "-W", "2", "10.99.0.1"])
        XCTAssertEqual(ping.status, 0, ping.output + ping.error)
        // The TUN counters are read every --stats-interval (0.2 s in the lab): poll, bounded.
        var after = before
        let deadline = Date().addingTimeInterval(10)
        while after < before + 20, Date() < deadline {
            usleep(100_000)
            after = Self.value(try metrics(h), "culvert_session_transmit_packets_total{profile=\"lab\"}") ?? 0
        }
        XCTAssertGreaterThanOrEqual(after - before, 20, "20 pings left through the TUN")

        // Reconnecting makes a new TUN whose counters start at 0: the exported counter still only grows.
        try h.disconnect("lab")
        try h.connect("lab")
        let reconnected = try metrics(h)
        XCTAssertGreaterThanOrEqual(Self.value(reconnected, "culvert_session_transmit_packets_total{profile=\"lab\"}") ?? 0, after)
        XCTAssertEqual(Self.value(reconnected, "culvert_session_connect_duration_seconds_count{profile=\"lab\"}"), 2)

        // node_exporter's textfile collector serves what --metrics-textfile wrote.
        let exporter = try h.namespaces.spawn(
            in: h.namespaces.a,
            [
                Self.nodeExporter, "--web.listen-address=\(Self.exporterAddress)", "--collector.disable-defaults", "--collector.textfile",
                "--collector.textfile.directory=\(textfiles.path)",
            ], output: h.directory.path + "/node-exporter.log")
        defer {
            exporter.terminate()
            exporter.waitUntilExit()
        }
        var served = ""
        let exporterDeadline = Date().addingTimeInterval(Self.exporterDeadline)
        while !served.contains("culvert_session_up"), Date() < exporterDeadline {
            usleep(200_000)
            served = try h.inA(["curl", "-sf", "--max-time", "2", "http://\(Self.exporterAddress)/metrics"], timeout: 5).output
        }
        XCTAssertTrue(served.contains("culvert_session_up{profile=\"lab\"} 1"), served)
    }

    /// `culvertctl metrics` against the lab's culvertd.
    private func metrics(_ h: TunnelLab) throws -> String {
        let result = try BackgroundCommand([Products.path(of: "culvertctl"), "--socket", h.daemon.socketPath, "metrics"]).wait()
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout
    }

    /// The value of the sample `series` (name and labels exactly as written) in `text`.
    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }
}
