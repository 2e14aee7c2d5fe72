// ProviderLauncher's framing rule: a provider only ever gets a duplicate of a TUN whose framing the
// kernel reports to be the one its manifest declares (root: real TUNs, in a private network
// namespace on a thread of its own).

import CulvertBundle
import CulvertSystem
import Foundation
import XCTest

@testable import CulvertManager

final class ProviderLauncherFramingTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(geteuid() == 0, "network namespaces and TUN devices need root")
    }

    func testTheManifestDecidesTheFraming() {
        XCTAssertEqual(ProviderLauncher.framing(of: []), .plain)
        XCTAssertEqual(ProviderLauncher.framing(of: [.handover]), .plain)
        XCTAssertEqual(ProviderLauncher.framing(of: [.tunOffload]), .virtioNetHeader)
        XCTAssertEqual(ProviderLauncher.framing(of: [.handover, .tunOffload]), .virtioNetHeader)
    }

    func testAMisframedTunIsNeverDuplicatedForAProvider() throws {
        let outcome = Outcome()
        let thread = Thread {
            defer { outcome.done.signal() }
            do { outcome.results = try Self.duplicateEveryPair() } catch { outcome.results = ["setup: \(error)"] }
        }
        thread.start()
        XCTAssertEqual(outcome.done.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(
            outcome.results,
            [
                "plain for plain: handed over", "plain for virtio_net_hdr: refused",
                "virtio_net_hdr for plain: refused", "virtio_net_hdr for virtio_net_hdr: handed over",
            ])
    }

    /// In a new network namespace (this thread only): each framing's TUN offered to each declaration.
    private static func duplicateEveryPair() throws -> [String] {
        try NetworkNamespace.enterNewNamespaceOnCurrentThread()
        var results: [String] = []
        for existing in TunFraming.allCases {
            let shared = try TunDevice.create(name: "cvtlaunch0", framing: existing)
            defer { shared.descriptor.close() }
            for declared in TunFraming.allCases {
                do {
                    let handed = try ProviderLauncher.duplicate(shared, framing: declared)
                    let framing = try handed.framing()
                    handed.descriptor.close()
                    results.append("\(existing.rawValue) for \(declared.rawValue): \(framing == declared ? "handed over" : "MISFRAMED")")
                } catch let failure as LaunchFailure {
                    results.append("\(existing.rawValue) for \(declared.rawValue): \(failure.step == .tun ? "refused" : "\(failure)")")
                }
            }
        }
        return results
    }

    private final class Outcome: @unchecked Sendable {  // written by the thread before `done` is signalled, read after
        let done = DispatchSemaphore(value: 0)
        var results: [String] = []
    }
}
