// ThreadPriority.enterControlPlane and the provider's reset: culvertd's control threads run at nice -5
// with a short EEVDF slice, and a provider forked from such a thread starts at nice 0, the kernel's
// slice and RLIMIT_NICE 0 (it cannot raise its own priority).

import CulvertSystem
import Foundation
import Synchronization
import XCTest

final class ControlPlaneSchedulingTests: XCTestCase {
    private static let childTimeout: Duration = .seconds(10)

    func testControlThreadIsRaisedAndAProviderSpawnedFromItIsNot() throws {
        try XCTSkipUnless(geteuid() == 0, "lowering a nice value and spawning as another user need root")
        let outcome = Mutex<Result<[String], any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            outcome.withLock { $0 = Result { try Self.raiseThenSpawn() } }
        }
        thread.start()
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success, "the test thread did not finish")
        let lines = try XCTUnwrap(outcome.withLock { $0 }).get()
        XCTAssertTrue(lines.contains("nice=0"), "\(lines)")
        XCTAssertTrue(
            lines.contains {
                $0.hasPrefix("Max nice priority") && $0.split(separator: " ", omittingEmptySubsequences: true).suffix(2) == ["0", "0"]
            }, "\(lines)")
        let slice = lines.first { $0.hasPrefix("se.slice") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces)
        XCTAssertNotNil(slice, "\(lines)")
        XCTAssertNotEqual(slice, "100000", "the provider kept the control plane's slice: \(lines)")
        XCTAssertEqual(ThreadPriority.currentThreadNiceness, 0, "the test's own thread changed")
    }

    /// On this thread: the control plane's scheduling (checked), then a shell as nobody that prints
    /// its own nice value, RLIMIT_NICE and slice.
    private static func raiseThenSpawn() throws -> [String] {
        XCTAssertTrue(try ThreadPriority.enterControlPlane(), "root could not take nice \(ThreadPriority.controlNiceness)")
        let (niceness, slice) = try ThreadPriority.currentThreadScheduling()
        XCTAssertEqual(niceness, ThreadPriority.controlNiceness)
        XCTAssertEqual(slice, ThreadPriority.controlSlice)
        XCTAssertFalse(try ThreadPriority.enterControlPlane() == false, "a second call is a no-op that reports success")
        let (a, b) = try DescriptorPassing.socketPair()
        defer {
            a.close()
            b.close()
        }
        let script = """
            read -r _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ nice _ </proc/self/stat; echo "nice=$nice"
            grep '^Max nice priority' /proc/self/limits | tr -s ' '; grep '^se.slice' /proc/self/sched | tr -s ' '
            """
        let spawn = ProviderSpawn(
            executablePath: "/bin/sh", arguments: ["-c", script], credentials: try ProviderCredentials.lookUp(userNamed: "nobody"))
        let process = try spawn.spawn(tun: a, channel: b)
        defer { process.close() }
        var log = ProcessLog()
        _ = try process.collectOutput(into: &log, timeout: childTimeout)
        XCTAssertEqual(try process.waitForExit(timeout: childTimeout), .exited(0), "\(log.lines)")
        return log.lines
    }
}
