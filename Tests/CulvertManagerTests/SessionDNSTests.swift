// SessionDNSTests: tunnel DNS runs off the manager queue, in the order it was asked for. The file
// backend on a resolv.conf in a temporary directory stands in for the system's; nothing here
// touches /etc.

import CulvertSystem
import Dispatch
import Foundation
import XCTest

@testable import CulvertManager

final class SessionDNSTests: XCTestCase {
    private var directory = ""
    private var resolvConf: String { directory + "/resolv.conf" }
    private let original = "nameserver 192.0.2.53\n"
    private let managerQueue = DispatchQueue(label: "test.manager")

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "culvert-dns-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/state", withIntermediateDirectories: true)
        try original.write(toFile: resolvConf, atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)  // try?: a leftover temp dir is harmless
    }

    private func makeDNS() -> SessionDNS {
        SessionDNS(
            configurator: DNSConfigurator(backend: .file(path: resolvConf), stateDirectory: directory + "/state"),
            managerQueue: managerQueue)
    }

    private func contents() throws -> String { try String(contentsOfFile: resolvConf, encoding: .utf8) }

    /// A revert asked for right after an apply (a teardown while SetTunnelNetworkSettings' DNS
    /// still runs) runs after it and undoes it, and both completions come back on the manager queue
    /// in the order they were asked for.
    func testARevertAskedForDuringAnApplyUndoesIt() throws {
        let dns = makeDNS()
        let settings = try TunnelDNSSettings(serverTexts: ["10.77.0.53"], searchDomains: ["lab.example"])
        let applied = expectation(description: "applied")
        let reverted = expectation(description: "reverted")
        let order = OrderLog()
        let queue = managerQueue
        managerQueue.async {
            dns.replace(session: "s1", with: settings, interfaceName: "cvt9", fullTunnel: false) { result, _ in
                dispatchPrecondition(condition: .onQueue(queue))
                if case .success(let now?) = result { order.append("applied \(now.settings.servers.map(\.description))") }
                applied.fulfill()
            }
            XCTAssertEqual(dns.inFlight, 1)
            dns.revert(session: "s1") { outcome in
                dispatchPrecondition(condition: .onQueue(queue))
                if case .success(let done) = outcome { order.append("reverted \(done != nil)") }
                reverted.fulfill()
            }
        }
        wait(for: [applied, reverted], timeout: 10, enforceOrder: true)
        XCTAssertEqual(order.entries, ["applied [\"10.77.0.53\"]", "reverted true"])
        XCTAssertEqual(try contents(), original, "the revert must restore the original file byte for byte")
        XCTAssertEqual(managerQueue.sync { dns.inFlight }, 0)
        XCTAssertFalse(dns.hasAnyApplied)
    }

    /// Replacing a session's DNS reverts the previous settings first; a second session meanwhile
    /// gets the file backend's typed refusal and nothing of it is applied.
    func testReplaceRevertsFirstAndAnotherSessionIsRefusedTyped() throws {
        let dns = makeDNS()
        let first = try TunnelDNSSettings(serverTexts: ["10.77.0.53"])
        let second = try TunnelDNSSettings(serverTexts: ["10.78.0.53"])
        let done = expectation(description: "all done")
        done.expectedFulfillmentCount = 3
        let results = OrderLog()
        managerQueue.async {
            dns.replace(session: "s1", with: first, interfaceName: "cvt9", fullTunnel: false) { _, _ in done.fulfill() }
            dns.replace(session: "s1", with: second, interfaceName: "cvt9", fullTunnel: false) { result, previous in
                if case .success = result { results.append("replaced, previous reverted: \(previous != nil)") }
                done.fulfill()
            }
            dns.replace(session: "s2", with: first, interfaceName: "cvt8", fullTunnel: false) { result, _ in
                if case .failure(let error) = result { results.append("s2: \(error)") }
                done.fulfill()
            }
        }
        wait(for: [done], timeout: 10)
        XCTAssertEqual(results.entries.first, "replaced, previous reverted: true")
        XCTAssertEqual(results.entries.count, 2)
        XCTAssertTrue(results.entries.last?.hasPrefix("s2: ") == true, "\(results.entries)")
        XCTAssertTrue(try contents().contains("10.78.0.53"))
        XCTAssertFalse(try contents().contains("10.77.0.53"))
        let reverted = expectation(description: "reverted")
        managerQueue.async { dns.revert(session: "s1") { _ in reverted.fulfill() } }
        wait(for: [reverted], timeout: 10)
        XCTAssertEqual(try contents(), original)
    }
}

/// Entries appended on the manager queue, read by the test after its expectations.
private final class OrderLog: @unchecked Sendable {  // appended on one queue; read after the expectations are met
    private(set) var entries: [String] = []
    func append(_ entry: String) { entries.append(entry) }
}
