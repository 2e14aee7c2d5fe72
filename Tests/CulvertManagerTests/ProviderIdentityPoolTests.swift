// ProviderIdentityPoolTests: which identity a new session's provider gets (rotation, live and
// busy ids skipped, exhaustion), the start-up validation of the range against account files in a
// temporary directory, and — as root — that a running process's uid is seen as busy.

import CulvertSystem
import Foundation
import XCTest

@testable import CulvertManager

final class ProviderIdentityPoolTests: XCTestCase {
    private var directory = ""
    private var helper: Process?

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "culvert-ids-\(UUID().uuidString)"
        try FileSystem.createDirectory(directory, mode: 0o700)
    }

    override func tearDown() {
        if let helper, helper.isRunning {
            kill(helper.processIdentifier, SIGKILL)
            helper.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)  // best effort cleanup of our own temp files
    }

    private let idle: (UInt32) -> Bool = { _ in false }

    // MARK: - allocation

    func testNeverUsedIdsComeFirstThenLeastRecentlyReleased() throws {
        var pool = try ProviderIdentityPool(range: 1000...1003)
        XCTAssertEqual(pool.allocate(liveSessions: [], busy: idle), 1000)
        XCTAssertEqual(pool.allocate(liveSessions: [], busy: idle), 1001)
        pool.release(1001)
        pool.release(1000)
        // 1002 and 1003 were never used; then 1001 (released first), then 1000.
        XCTAssertEqual(pool.allocate(liveSessions: [], busy: idle), 1002)
        XCTAssertEqual(pool.allocate(liveSessions: [], busy: idle), 1003)
        XCTAssertEqual(pool.allocate(liveSessions: [], busy: idle), 1001)
        XCTAssertEqual(pool.allocate(liveSessions: [], busy: idle), 1000)
        XCTAssertNil(pool.allocate(liveSessions: [], busy: idle), "every id is held")
    }

    func testExhaustionAndReleaseMakeRoomAgain() throws {
        var pool = try ProviderIdentityPool(range: 5000...5001)
        let first = pool.allocate(liveSessions: [], busy: idle)
        let second = pool.allocate(liveSessions: [], busy: idle)
        XCTAssertEqual(Set([first, second]), [5000, 5001])
        XCTAssertNil(pool.allocate(liveSessions: [], busy: idle))
        pool.release(5001)
        XCTAssertEqual(pool.allocate(liveSessions: [], busy: idle), 5001)
        pool.release(4999)  // outside the range: ignored
        XCTAssertNil(pool.allocate(liveSessions: [], busy: idle))
    }

    func testLiveSessionIdsAreNeverHandedOut() throws {
        // A fresh pool (after a restart) must not give out what re-adopted sessions hold.
        var pool = try ProviderIdentityPool(range: 2000...2003)
        let live: Set<UInt32> = [2000, 2002]
        XCTAssertEqual(pool.allocate(liveSessions: live, busy: idle), 2001)
        XCTAssertEqual(pool.allocate(liveSessions: live, busy: idle), 2003)
        XCTAssertNil(pool.allocate(liveSessions: live, busy: idle))
        // A re-adopted session ends: its id is released although this pool never handed it out.
        pool.release(2000)
        XCTAssertEqual(pool.allocate(liveSessions: [2002], busy: idle), 2000)
    }

    func testBusyIdsAreSkippedAndKeepTheirTurn() throws {
        var pool = try ProviderIdentityPool(range: 3000...3003)
        var busy: Set<UInt32> = [3000, 3001]
        var asked: [UInt32] = []
        let picked = pool.allocate(liveSessions: []) { id in
            asked.append(id)
            return busy.contains(id)
        }
        XCTAssertEqual(picked, 3002)
        XCTAssertEqual(asked, [3000, 3001, 3002], "busy is asked in order until an id is free")
        busy = []
        // 3000 and 3001 were skipped, not consumed: they are still the least recently used.
        XCTAssertEqual(pool.allocate(liveSessions: [], busy: { busy.contains($0) }), 3000)
        XCTAssertNil(pool.allocate(liveSessions: [], busy: { _ in true }), "3001 and 3003 are free only if busy says so")
        XCTAssertEqual(pool.allocate(liveSessions: [], busy: { $0 == 3001 }), 3003)
    }

    func testTooLargeRangeIsRefusedBeforeAnythingIsAllocated() {
        XCTAssertThrowsError(try ProviderIdentityPool(range: 100_000...100_000 + UInt32(ProviderIdentityPool.maximumSize))) {
            error in
            guard case .tooLarge? = (error as? ProviderIdentityRangeError)?.problem else { return XCTFail("\(error)") }
        }
    }

    // MARK: - validation

    func testRangeParsing() throws {
        XCTAssertEqual(try ProviderIdentityPool.parseRange("90000-99999"), 90000...99999)
        XCTAssertEqual(try ProviderIdentityPool.parseRange("5000-5000"), 5000...5000)
        for text in ["", "90000", "99999-90000", "-5", "1-2-3", "a-b", "+1-5", "1 -5", "90000-4294967296"] {
            XCTAssertThrowsError(try ProviderIdentityPool.parseRange(text), text) { error in
                XCTAssertEqual((error as? ProviderIdentityRangeError)?.problem, .unparsable(text))
            }
        }
    }

    func testDefaultRangeFitsADebianSystemWithoutAccountsInIt() throws {
        let files = try accountFiles()
        XCTAssertEqual(try ProviderIdentityPool.validate(range: ProviderLimits.defaultIdentities, files: files), [:])
    }

    func testRangesOutsideTheAllowedSpanOrHoldingNobodyAreRefused() throws {
        let files = try accountFiles()
        let cases: [(ClosedRange<UInt32>, ProviderIdentityRangeError.Problem)] = [
            (999...2000, .outsideAllowed(range: 999...2000)),
            (0x7fff_fff0...0x8000_0000, .outsideAllowed(range: 0x7fff_fff0...0x8000_0000)),
            (65_000...65_534, .includesReserved(range: 65_000...65_534, id: 65534)),
            (65_535...65_600, .includesReserved(range: 65_535...65_600, id: 65535)),
            (200_000...300_000, .tooLarge(range: 200_000...300_000, maximum: ProviderIdentityPool.maximumSize)),
        ]
        for (range, problem) in cases {
            XCTAssertThrowsError(try ProviderIdentityPool.validate(range: range, files: files), "\(range)") { error in
                XCTAssertEqual((error as? ProviderIdentityRangeError)?.problem, problem)
            }
        }
    }

    func testOverlapsWithAccountsAreRefusedAndMalformedLinesCounted() throws {
        let cases: [(String, String, ProviderIdentityRangeError.Problem)] = [
            ("passwd", "eve:x:90010:100::/home/eve:/bin/sh\n", .overlapsUser(name: "eve", id: 90010, file: "passwd")),
            ("passwd", "eve:x:1500:90020::/home/eve:/bin/sh\n", .overlapsPrimaryGroup(user: "eve", id: 90020, file: "passwd")),
            ("group", "ops:x:99999:eve\n", .overlapsGroup(name: "ops", id: 99999, file: "group")),
            (
                "subuid", "eve:89000:1001\n",
                .overlapsSubordinateRange(owner: "eve", start: 89000, count: 1001, file: "subuid")
            ),
            (
                "subgid", "1500:99999:65536\n",
                .overlapsSubordinateRange(owner: "1500", start: 99999, count: 65536, file: "subgid")
            ),
        ]
        for (name, extra, expected) in cases {
            let files = try accountFiles(extra: [name: extra + "garbage line\n+::::::\n"])
            XCTAssertThrowsError(try ProviderIdentityPool.validate(range: 90000...99999, files: files), name) { error in
                guard let error = error as? ProviderIdentityRangeError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.problem, Self.relabel(expected, directory: self.directory))
                XCTAssertEqual(error.malformedLines, [self.directory + "/" + name: 2])
                XCTAssertTrue(error.description.contains("2 malformed lines in \(self.directory)/\(name) ignored"), error.description)
                XCTAssertTrue(error.description.contains("--provider-uids"), error.description)
            }
        }
    }

    func testSubordinateRangesEndingJustBeforeOrStartingJustAfterAreFine() throws {
        let files = try accountFiles(extra: ["subuid": "a:100000:65536\nb:89000:1000\nc:95000:0\n"])
        XCTAssertEqual(try ProviderIdentityPool.validate(range: 90000...99999, files: files), [:])
    }

    func testMissingSubordinateFilesAreEmptyAndUnreadableOnesRefused() throws {
        var files = try accountFiles()
        files.subuid = directory + "/absent"
        XCTAssertNoThrow(try ProviderIdentityPool.validate(range: 90000...99999, files: files))
        files.subgid = directory  // a directory: readFile refuses it
        XCTAssertThrowsError(try ProviderIdentityPool.validate(range: 90000...99999, files: files)) { error in
            guard case .unreadable(let file, _)? = (error as? ProviderIdentityRangeError)?.problem else { return XCTFail("\(error)") }
            XCTAssertEqual(file, self.directory)
        }
    }

    // MARK: - root: the /proc scan

    func testRunningProcessMakesItsUidBusy() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to run a process under another uid") }
        let id = UInt32.random(in: 91_000...98_999)
        XCTAssertFalse(ProcessTable.identitiesInUse(within: id...id).contains(id), "no process of uid \(id) yet")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=\(id)", "--regid=\(id)", "--clear-groups", "--", "sleep", "30"]
        try process.run()
        helper = process
        // setpriv runs as root until it has switched ids and exec'd sleep: wait (bounded) for that.
        let clock = ContinuousClock()
        let start = clock.now
        while Identity.commandName(of: process.processIdentifier) != "sleep", clock.now - start < .seconds(10) { usleep(5000) }
        XCTAssertEqual(Identity.commandName(of: process.processIdentifier), "sleep")
        let inUse = ProcessTable.identitiesInUse(within: (id - 1)...(id + 1))
        XCTAssertEqual(inUse, [id], "uid and gid \(id) are in use, their neighbours are not")
        var pool = try ProviderIdentityPool(range: id...(id + 1))
        XCTAssertEqual(pool.allocate(liveSessions: [], busy: { inUse.contains($0) }), id + 1)
    }

    func testStatusParsingReadsEveryUidAndGidField() {
        let status = "Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nGroups:\t9 10\n"
        XCTAssertEqual(ProcessTable.identities(inStatus: status), [1, 2, 3, 4, 5, 6, 7, 8])
    }

    // MARK: - fixtures

    /// Account files like a Debian system's (no ids in 90000-99999), with `extra` lines appended per file.
    private func accountFiles(extra: [String: String] = [:]) throws -> ProviderIdentityPool.AccountFiles {
        let base: [String: String] = [
            "passwd": "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                + "alice:x:1000:1000:,,,:/home/alice:/bin/bash\n",
            "group": "root:x:0:\nnogroup:x:65534:\nalice:x:1000:\n",
            "subuid": "alice:100000:65536\n",
            "subgid": "alice:100000:65536\n",
        ]
        for (name, text) in base {
            try FileSystem.writeAtomically(Array((text + (extra[name] ?? "")).utf8), to: directory + "/" + name)
        }
        return ProviderIdentityPool.AccountFiles(
            passwd: directory + "/passwd", group: directory + "/group", subuid: directory + "/subuid", subgid: directory + "/subgid")
    }

    /// `problem` with its file name made a path in `directory`.
    private static func relabel(_ problem: ProviderIdentityRangeError.Problem, directory: String) -> ProviderIdentityRangeError.Problem {
        switch problem {
        case .overlapsUser(let name, let id, let file): .overlapsUser(name: name, id: id, file: directory + "/" + file)
        case .overlapsPrimaryGroup(let user, let id, let file): .overlapsPrimaryGroup(user: user, id: id, file: directory + "/" + file)
        case .overlapsGroup(let name, let id, let file): .overlapsGroup(name: name, id: id, file: directory + "/" + file)
        case .overlapsSubordinateRange(let owner, let start, let count, let file):
            .overlapsSubordinateRange(owner: owner, start: start, count: count, file: directory + "/" + file)
        default: problem
        }
    }
}
