// TunnelLab+Iperf: iperf3 from namespace A to a one-shot server in B through the tunnel, and the
// figures read from its JSON — shared by the offload traffic tests (test provider and WireGuard).

import CulvertTesting
import Foundation
import XCTest

extension TunnelLab {
    /// Seconds each iperf3 client runs.
    static let iperfSeconds = 2
    /// How long the one-shot iperf3 server may take to listen.
    static let iperfServerListenDeadline: TimeInterval = 10
    /// Seconds the iperf3 client may take in all.
    static let iperfClientTimeout: TimeInterval = 40

    /// `iperf3 -c address -t iperfSeconds -J` plus `extra` from A against a one-shot server in B
    /// bound to `address`; its JSON.
    func iperf(to address: String, _ extra: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let log = directory.path + "/iperf-server.log"
        let server = try namespaces.spawn(in: namespaces.b, ["iperf3", "-s", "-1", "--forceflush", "-B", address], output: log)
        defer {
            if server.isRunning {
                server.terminate()
                server.waitUntilExit()
            }
        }
        let deadline = Date().addingTimeInterval(Self.iperfServerListenDeadline)
        while Date() < deadline {
            // try?: not written yet; retry.
            if let text = try? String(contentsOfFile: log, encoding: .utf8), text.contains("listening") { break }
            usleep(20_000)
        }
        let run = try inA(["iperf3", "-c", address, "-t", String(Self.iperfSeconds), "-J"] + extra, timeout: Self.iperfClientTimeout)
        XCTAssertEqual(run.status, 0, "iperf3 \(extra): \(run.output.suffix(1500)) \(run.error)", file: file, line: line)
        return run.output
    }
}

/// The figures the offload tests read from iperf3's JSON.
enum IperfJSON {
    /// The "end" object of iperf3's JSON, or nil when it does not parse.
    static func end(_ json: String) -> [String: Any]? {
        // try?: unparsable output fails the caller's assertions.
        ((try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any])?["end"] as? [String: Any]
    }

    /// end[key].bytes, or 0.
    static func bytes(_ json: String, _ key: String) -> Int {
        ((end(json)?[key] as? [String: Any])?["bytes"] as? NSNumber)?.intValue ?? 0
    }
}
