// RemoveTreeBeneathTests: root removes a tree an unprivileged uid owns — and keeps changing while
// it is removed — without touching anything outside it (issue 11: a symlink swap during the
// removal made culvertd delete root's files).

import CulvertSystem
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

final class RemoveTreeBeneathTests: XCTestCase {
    /// Files in the root-owned directory the attacker points its links at.
    static let victimFileCount = 2000
    /// Removals raced by the attacker, at most; and the most time spent on them.
    static let racedRemovals = 40
    static let raceBudgetSeconds = 60.0
    /// Longest wait for a helper process to get going.
    static let helperStartSeconds = 10.0
    static let python = "/usr/bin/python3"
    static let setpriv = "/usr/bin/setpriv"

    var base = ""
    var victim: String { base + "/victim" }
    var sessions: String { base + "/sessions" }
    var tree: String { sessions + "/tree" }
    /// An unprivileged uid (and gid) with no account, unlikely to be used by anything else.
    let uid = UInt32.random(in: 91_000...98_999)
    var attacker: Process?

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root: the tree belongs to another uid, the victim to root") }
        for tool in [Self.python, Self.setpriv] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw XCTSkip("needs \(tool)")
        }
        base = "/tmp/culvert-rtb-\(UUID().uuidString)"
        try FileSystem.createDirectory(victim, mode: 0o755)
        try FileSystem.setMode(base, 0o755)
        try FileSystem.createDirectory(sessions, mode: 0o755)
        for index in 0..<Self.victimFileCount {
            // Plain writes: 2,000 fsyncs would make every test slow, and durability is not the point here.
            let created = FileManager.default.createFile(
                atPath: victim + "/" + Self.victimName(index), contents: Data("victim \(index)".utf8),
                attributes: [.posixPermissions: 0o644])
            XCTAssertTrue(created)
        }
    }

    override func tearDown() {
        if let attacker, attacker.isRunning {
            kill(attacker.processIdentifier, SIGKILL)
            attacker.waitUntilExit()
        }
        guard !base.isEmpty else { return }
        // try?: best-effort cleanup of the test's own directory (mounts were private to their thread).
        try? FileSystem.removeTreeBeneath(parent: "/tmp", name: String(base.dropFirst(5)))
    }

    static func victimName(_ index: Int) -> String { "f" + String(index + 10000).dropFirst() }

    // MARK: - the race

    func testRemovalWithoutAttackerRemovesEverythingAndFollowsNoLink() throws {
        try makeTree()
        try FileSystem.removeTreeBeneath(parent: sessions, name: "tree")
        XCTAssertFalse(FileSystem.exists(tree))
        try assertVictimIntact()
    }

    func testRacingSymlinkSwapsNeverReachTheVictim() throws {
        let clock = ContinuousClock()
        let start = clock.now
        var outcomes: [String: Int] = [:]
        var rounds = 0
        while rounds < Self.racedRemovals, clock.now - start < .seconds(Self.raceBudgetSeconds) {
            rounds += 1
            try makeTree()
            try startAttacker()
            do {
                try FileSystem.removeTreeBeneath(
                    parent: sessions, name: "tree", limits: TreeRemoval.Limits(maximumDepth: 32, maximumEntries: 20_000))
                outcomes["removed", default: 0] += 1
            } catch {
                // The attacker may refill the tree faster than it empties: stopping is allowed, following is not.
                outcomes["\(error)".prefix(40).description, default: 0] += 1
            }
            stopAttacker()
            try assertVictimIntact()
            // Without the attacker what is left goes completely.
            try FileSystem.removeTreeBeneath(parent: sessions, name: "tree")
            XCTAssertFalse(FileSystem.exists(tree))
        }
        XCTAssertGreaterThan(rounds, 0)
        print("raced removals: \(rounds), outcomes: \(outcomes)")
    }

    // MARK: - shapes of trees

    func testTopSymlinkIsRemovedAsALink() throws {
        XCTAssertEqual(symlink(victim, tree), 0)
        try FileSystem.removeTreeBeneath(parent: sessions, name: "tree")
        XCTAssertFalse(FileSystem.exists(tree))
        try assertVictimIntact()
    }

    func testMissingTreeAndParentAreNotErrors() throws {
        try FileSystem.removeTreeBeneath(parent: sessions, name: "tree")
        try FileSystem.removeTreeBeneath(parent: sessions + "/absent", name: "tree")
    }

    func testNamesThatAreNotOneComponentAreRefused() {
        for name in ["", ".", "..", "a/b", "../victim"] {
            XCTAssertThrowsError(try FileSystem.removeTreeBeneath(parent: sessions, name: name)) { error in
                XCTAssertEqual(error as? TreeRemovalError, .invalidName(name))
            }
        }
        XCTAssertEqual(try FileSystem.listDirectory(victim).count, Self.victimFileCount)
    }

    func testNamesThatAreNotUTF8AreRemoved() throws {
        try FileSystem.createDirectory(tree, mode: 0o755)
        let handle = try DirectoryHandle.open(path: tree)
        defer { handle.close() }
        // "f\xff\e[": invalid UTF-8 and an escape sequence, as raw bytes.
        let fd = openat(handle.descriptor.rawValue, [0x66, -1, 0x1b, 0x5b, 0] as [CChar], O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        close(fd)
        XCTAssertEqual(mkdirat(handle.descriptor.rawValue, [0x64, -2, 0] as [CChar], 0o700), 0)
        try FileSystem.removeTreeBeneath(parent: sessions, name: "tree")
        XCTAssertFalse(FileSystem.exists(tree))
    }

    func testDepthAndEntryLimitsStopTheWalk() throws {
        var path = tree
        for level in 0..<6 {
            path += "/l\(level)"
            try FileSystem.createDirectory(path, mode: 0o755)
        }
        XCTAssertThrowsError(
            try FileSystem.removeTreeBeneath(parent: sessions, name: "tree", limits: TreeRemoval.Limits(maximumDepth: 3))
        ) { error in
            guard case .tooDeep(let at, 3)? = error as? TreeRemovalError else { return XCTFail("\(error)") }
            XCTAssertEqual(at, "tree/l0/l1/l2")
        }
        XCTAssertTrue(FileSystem.exists(tree + "/l0/l1/l2/l3"), "nothing below the limit was touched")
        for index in 0..<50 { try FileSystem.writeAtomically([], to: tree + "/file\(index)") }
        XCTAssertThrowsError(
            try FileSystem.removeTreeBeneath(parent: sessions, name: "tree", limits: TreeRemoval.Limits(maximumEntries: 20))
        ) { error in
            guard case .tooManyEntries(_, 20)? = error as? TreeRemovalError else { return XCTFail("\(error)") }
        }
        try FileSystem.removeTreeBeneath(parent: sessions, name: "tree")
        XCTAssertFalse(FileSystem.exists(tree))
    }

    // MARK: - mount points

    /// A tmpfs and a bind mount of the victim (same file system: same st_dev) inside the tree, in
    /// a mount namespace private to one thread: the removal enters neither.
    func testMountPointsAreNotCrossed() throws {
        try FileSystem.createDirectory(tree + "/a/tmpfs", mode: 0o755)
        try FileSystem.createDirectory(tree + "/b/bind", mode: 0o755)
        try FileSystem.writeAtomically([1], to: tree + "/a/file")
        let (tree, sessions, victim) = (self.tree, self.sessions, self.victim)
        let outcome = try onThreadInPrivateMountNamespace { () throws -> [String] in
            func attempt() -> String {
                do {
                    try FileSystem.removeTreeBeneath(parent: sessions, name: "tree")
                    return "removed"
                } catch {
                    return "\(error)"
                }
            }
            guard mount("none", "/", nil, UInt(MS_REC) | UInt(MS_PRIVATE), nil) == 0 else { throw MountFailure("make-rprivate /", errno) }
            guard mount("tmpfs", tree + "/a/tmpfs", "tmpfs", 0, "size=1m") == 0 else { throw MountFailure("tmpfs", errno) }
            try FileSystem.writeAtomically([2], to: tree + "/a/tmpfs/kept")
            var results = [attempt(), "kept: \(FileSystem.exists(tree + "/a/tmpfs/kept"))", "umount: \(umount2(tree + "/a/tmpfs", 0))"]
            // The first removal may have taken b/ before it met a/tmpfs: the bind mount needs its place back.
            try FileSystem.createDirectory(tree + "/b/bind", mode: 0o755)
            guard mount(victim, tree + "/b/bind", nil, UInt(MS_BIND), nil) == 0 else { throw MountFailure("bind", errno) }
            results += [attempt(), "umount: \(umount2(tree + "/b/bind", 0))"]
            return results
        }
        XCTAssertEqual(
            outcome,
            [
                TreeRemovalError.crossesMountPoint(path: "tree/a/tmpfs").description, "kept: true", "umount: 0",
                TreeRemovalError.crossesMountPoint(path: "tree/b/bind").description, "umount: 0",
            ])
        try assertVictimIntact()
        try FileSystem.removeTreeBeneath(parent: sessions, name: "tree")
        XCTAssertFalse(FileSystem.exists(tree))
    }

    // MARK: - helpers

    /// The unprivileged uid's tree: nested directories with files and links to the victim, and
    /// `swap/sub`, the directory the attacker swaps.
    func makeTree() throws {
        try FileSystem.createDirectory(tree, mode: 0o700)
        try FileSystem.setOwner(tree, userID: uid, groupID: uid)
        let script = """
            import os, sys
            root, victim = sys.argv[1], sys.argv[2]
            for i in range(4):
                p = os.path.join(root, "d%d" % i)
                for j in range(4):
                    os.makedirs(p, exist_ok=True)
                    for k in range(15):
                        open(os.path.join(p, "f%d" % k), "w").write("x")
                    os.symlink(victim, os.path.join(p, "victim-link"))
                    os.symlink(os.path.join(victim, "f0000"), os.path.join(p, "file-link"))
                    p = os.path.join(p, "n%d" % j)
            sub = os.path.join(root, "swap", "sub")
            os.makedirs(sub)
            for k in range(300):  # named like the victim's files: an unlink through a swapped path hits them
                open(os.path.join(sub, "f%04d" % k), "w").close()
            """
        let process = try asUnprivileged([Self.python, "-c", script, tree, victim])
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "making the tree as uid \(uid)")
    }

    /// Swaps `swap/sub` and `d0` with symlinks to the victim in a loop, each swap held for
    /// about two milliseconds: atomically with renameat2(RENAME_EXCHANGE) and by rename-away-and-link,
    /// recreating what the removal took. (A path-walking removal loses victim files to it.)
    func startAttacker() throws {
        let ready = tree + "/attacker-ready"
        let script = """
            import ctypes, os, sys, time
            root, victim, ready = sys.argv[1], sys.argv[2], sys.argv[3]
            libc = ctypes.CDLL(None, use_errno=True)
            AT_FDCWD, RENAME_EXCHANGE = -100, 2
            pairs = [(os.path.join(root, "swap", "sub").encode(), os.path.join(root, "swap", "link").encode()),
                     (os.path.join(root, "d0").encode(), os.path.join(root, "d0-link").encode())]
            def exchange():
                for real, link in pairs:
                    libc.renameat2(AT_FDCWD, real, AT_FDCWD, link, RENAME_EXCHANGE)
            first = True
            while True:
                for real, link in pairs:
                    try:
                        os.makedirs(real, exist_ok=True)
                        open(os.path.join(real, b"bait"), "w").close()
                    except OSError: pass
                    try: os.symlink(victim, link)
                    except OSError: pass
                exchange()          # the links stand where the directories were, most of the time
                time.sleep(0.002)
                exchange()          # and the directories are back, briefly
                time.sleep(0.0002)
                for real, link in pairs:
                    try:
                        os.rename(real, real + b".away")
                        os.symlink(victim, real)
                        time.sleep(0.001)
                        os.unlink(real)
                        os.rename(real + b".away", real)
                    except OSError: pass
                if first:
                    open(ready, "w").close()
                    first = False
            """
        attacker = try asUnprivileged([Self.python, "-c", script, tree, victim, ready], readyFile: ready)
    }

    func stopAttacker() {
        guard let attacker else { return }
        kill(attacker.processIdentifier, SIGKILL)
        attacker.waitUntilExit()
        self.attacker = nil
    }

    /// Runs `arguments` as the unprivileged uid; with `readyFile`, waits (bounded) for it to appear.
    func asUnprivileged(_ arguments: [String], readyFile: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.setpriv)
        process.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        try process.run()
        guard let readyFile else { return process }
        let clock = ContinuousClock()
        let start = clock.now
        while !FileSystem.exists(readyFile), process.isRunning, clock.now - start < .seconds(Self.helperStartSeconds) {
            usleep(5000)
        }
        XCTAssertTrue(process.isRunning, "the attacker is running")
        return process
    }

    func assertVictimIntact(file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try FileSystem.status(of: victim)?.kind, .directory, file: file, line: line)
        let missing = Set((0..<Self.victimFileCount).map(Self.victimName)).subtracting(try FileSystem.listDirectory(victim))
        XCTAssertEqual(missing.count, 0, "victim files lost, e.g. \(missing.sorted().prefix(5))", file: file, line: line)
    }
}

struct MountFailure: Error, CustomStringConvertible {
    var step: String
    var code: Int32
    init(_ step: String, _ code: Int32) {
        self.step = step
        self.code = code
    }
    var description: String { "\(step): errno \(code)" }
}

/// What a thread's body returned, handed to the waiting test.
private final class ThreadResult<R>: @unchecked Sendable {  // written by the thread before `done` is signalled, read after
    var result: Result<R, any Error>?
    let done = DispatchSemaphore(value: 0)
}

/// unshare(2), looked up at run time: Swift's Glibc module leaves it out (a GNU extension), and a
/// C shim function only for this test is not worth having.
private let unshareFunction: (@convention(c) (Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "unshare") else { return nil }  // RTLD_DEFAULT
    return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
}()

/// CLONE_NEWNS from <sched.h>.
private let newMountNamespace: Int32 = 0x0002_0000

/// Runs `body` on a new thread that first unshares its mount namespace, so mounts it makes are
/// seen by nothing else and vanish with the thread.
func onThreadInPrivateMountNamespace<R: Sendable>(_ body: @escaping @Sendable () throws -> R) throws -> R {
    let box = ThreadResult<R>()
    let thread = Thread {
        defer { box.done.signal() }
        guard let unshare = unshareFunction, unshare(newMountNamespace) == 0 else {
            box.result = .failure(MountFailure("unshare(CLONE_NEWNS)", errno))
            return
        }
        box.result = Result { try body() }
    }
    thread.start()
    box.done.wait()
    // result!: set on every path before `done` is signalled.
    return try box.result!.get()
}
