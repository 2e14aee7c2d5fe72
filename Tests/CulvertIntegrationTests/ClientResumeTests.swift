// CulvertClient against a real culvertd (and a scripted fake for what a correct daemon never
// does): typed results and errors, deadlines, cancellation, and watch's exactly-once resume.

import CulvertClient
import CulvertCore
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Dispatch
import Foundation
import XCTest

/// Bound on every wait for an update in these tests.
private let updateTimeout: Duration = .seconds(20)

/// Fast reconnection so the tests spend their time on behaviour, not on backoff.
private let testPolicy = WatchPolicy(initialBackoff: .milliseconds(20), maximumBackoff: .milliseconds(200))

final class ClientResumeTests: XCTestCase {
    // MARK: one-shot calls

    func testCallsReturnTypedResultsAndErrors() async throws {
        let daemon = try startDaemon(self)
        let client = CulvertClient(socketPath: daemon.socketPath)
        let ping = try await client.ping()
        XCTAssertEqual(ping.seq, 1)

        let created = try await client.saveProfile(
            name: "demo", extensionIdentifier: "io.culvert.wireguard", options: ["mtu": "1420"], secrets: ["privateKey": "k"])
        XCTAssertEqual(
            created,
            SavedProfile(
                profile: Profile(
                    name: "demo", extensionIdentifier: "io.culvert.wireguard", options: ["mtu": "1420"], secretNames: ["privateKey"]),
                created: true, seq: 2))
        let replaced = try await client.saveProfile(name: "demo", extensionIdentifier: "io.culvert.wireguard", alwaysOn: true)
        XCTAssertFalse(replaced.created)
        XCTAssertEqual(replaced.seq, 3)
        XCTAssertEqual(replaced.profile.secretNames, ["privateKey"])

        let status = try await client.status()
        XCTAssertEqual(status.seq, 3)
        XCTAssertEqual(status.daemon.epoch, ping.epoch)
        XCTAssertEqual(status.profiles.map(\.name), ["demo"])
        let demo = try await client.profile(named: "demo")
        XCTAssertTrue(demo.alwaysOn)

        await assertThrows(.profileNotFound(name: "nope")) { try await client.profile(named: "nope") }
        await assertThrows(.profileNotFound(name: "nope")) { try await client.removeProfile(named: "nope") }
        await assertThrows(.invalidProfile(field: "name", reason: "invalid_characters")) {
            try await client.saveProfile(name: "bad name", extensionIdentifier: "io.culvert.wireguard")
        }
        await assertThrows(.invalidProfile(field: "extension", reason: "invalid_characters")) {
            try await client.saveProfile(name: "ok", extensionIdentifier: "nodots")
        }
        let removedSeq = try await client.removeProfile(named: "demo")
        XCTAssertEqual(removedSeq, 4)

        let directory = try TemporaryDirectory(prefix: "culvert-client")
        defer { directory.remove() }
        let nowhere = directory.file("absent.sock")
        await assertThrows(.daemonUnreachable(path: nowhere, reason: "No such file or directory")) {
            try await CulvertClient(socketPath: nowhere).ping()
        }
    }

    func testSocketPathResolution() {
        XCTAssertEqual(CulvertClient.resolveSocketPath(explicit: "/a", environment: ["CULVERT_SOCKET": "/b"]), "/a")
        XCTAssertEqual(CulvertClient.resolveSocketPath(explicit: nil, environment: ["CULVERT_SOCKET": "/b"]), "/b")
        XCTAssertEqual(
            CulvertClient.resolveSocketPath(explicit: nil, environment: ["CULVERT_SOCKET": ""]), "/run/culvert/io.culvert.Manager")
        XCTAssertEqual(CulvertClient.resolveSocketPath(explicit: nil, environment: [:]), "/run/culvert/io.culvert.Manager")
    }

    func testCallsHaveADeadlineAndCancelPromptly() async throws {
        let fake = try FakeManager { _, _ in .ignore }  // accepts every call, answers none
        defer { fake.stop() }
        let client = CulvertClient(socketPath: fake.socketPath, callDeadline: .milliseconds(300))
        let clock = ContinuousClock()
        var started = clock.now
        await assertThrows(.timedOut) { try await client.ping() }
        XCTAssertLessThan(clock.now - started, .seconds(5), "the deadline was not honoured")

        let patient = CulvertClient(socketPath: fake.socketPath, callDeadline: .seconds(600))
        let call = Task { () -> CulvertClientError? in
            do throws(CulvertClientError) {
                _ = try await patient.status()
                return nil
            } catch {
                return error
            }
        }
        try await fake.waitForCalls(1, of: "GetStatus")
        started = clock.now
        call.cancel()
        let outcome = await call.value
        XCTAssertEqual(outcome, .cancelled)
        XCTAssertLessThan(clock.now - started, .seconds(2), "cancellation did not close the connection promptly")
    }

    // MARK: watch against culvertd

    func testCrashAndRestartYieldsInterruptedThenSnapshotOfTheNewEpoch() async throws {
        let daemon = try startDaemon(self)
        let client = CulvertClient(socketPath: daemon.socketPath)
        let updates = UpdateLog(client.watch(policy: testPolicy))
        defer { updates.cancel() }

        let first = try await updates.waitFor("the first snapshot") { $0.count >= 1 }
        guard case .event(let snapshot) = first[0], snapshot.kind == .snapshot else {
            return XCTFail("the stream did not start with a snapshot event: \(first)")
        }
        XCTAssertEqual(snapshot.reason, "no_position")
        let epoch1 = snapshot.epoch
        for i in 0..<3 { _ = try await client.saveProfile(name: "before-\(i)", extensionIdentifier: "io.culvert.test") }
        _ = try await updates.waitFor("three live events") { $0.events.last?.seq == snapshot.seq + 3 }

        daemon.crash()
        _ = try await updates.waitFor(".interrupted") { $0.contains { if case .interrupted = $0 { true } else { false } } }
        try daemon.start()
        let afterRestart = try await updates.waitFor("the new epoch's snapshot") { $0.events.last?.epoch != epoch1 }
        let snapshot2 = try XCTUnwrap(afterRestart.events.last)
        XCTAssertEqual(snapshot2.kind, .snapshot)
        XCTAssertEqual(snapshot2.status?.profiles.map(\.name), ["before-0", "before-1", "before-2"])
        for i in 0..<2 { _ = try await client.saveProfile(name: "after-\(i)", extensionIdentifier: "io.culvert.test") }
        let all = try await updates.waitFor("two events in the new epoch") { $0.events.last?.seq == snapshot2.seq + 2 }

        // The exact shape: one interruption, one resync, nothing else between the epochs.
        guard all.count == 1 + 3 + 1 + 1 + 1 + 2 else { return XCTFail("unexpected updates: \(all)") }
        XCTAssertEqual(all[4], .interrupted(.connectionClosed))
        XCTAssertEqual(all[5], .resumed(.snapshot(.otherEpoch)))
        XCTAssertEqual(all[6], .event(snapshot2))
        assertExactlyOnceInOrder(all)
        XCTAssertEqual(all.events.map(\.seq), [1, 2, 3, 4, 1, 2, 3])
    }

    func testResumeWithinAnEpochDeliversExactlyTheMissedEvents() async throws {
        let daemon = try startDaemon(self)
        let client = CulvertClient(socketPath: daemon.socketPath)
        let first = UpdateLog(client.watch(policy: testPolicy))
        let initial = try await first.waitFor("the snapshot") { !$0.events.isEmpty }
        let start = try XCTUnwrap(initial.events.first)
        XCTAssertEqual(start.kind, .snapshot)
        let k = 3
        for i in 0..<k { _ = try await client.saveProfile(name: "seen-\(i)", extensionIdentifier: "io.culvert.test") }
        let seen = try await first.waitFor("\(k) events") { $0.events.last?.seq == start.seq + Int64(k) }
        first.cancel()
        let last = try XCTUnwrap(seen.events.last?.seq)

        let m = 4
        for i in 0..<(m - 1) { _ = try await client.saveProfile(name: "missed-\(i)", extensionIdentifier: "io.culvert.test") }
        _ = try await client.removeProfile(named: "seen-0")

        let resumed = UpdateLog(client.watch(since: last, epoch: start.epoch, policy: testPolicy))
        defer { resumed.cancel() }
        let replay = try await resumed.waitFor("\(m) replayed events") { $0.events.count == m }
        XCTAssertEqual(replay.first, .resumed(.replayed(count: Int64(m))))
        XCTAssertEqual(replay.events.map(\.seq), Array((last + 1)...(last + Int64(m))))
        XCTAssertEqual(replay.events.last?.kind, .profileRemoved)
        XCTAssertEqual(replay.events.last?.name, "seen-0")

        _ = try await client.saveProfile(name: "live", extensionIdentifier: "io.culvert.test")
        let live = try await resumed.waitFor("the live event") { $0.events.count == m + 1 }
        XCTAssertEqual(live.events.last?.seq, last + Int64(m) + 1)
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertEqual(resumed.updates.count, m + 2, "something besides the missed and the live events arrived: \(resumed.updates)")
        assertExactlyOnceInOrder(resumed.updates, startingAfter: last)
    }

    func testResumeWithNothingMissedSaysSoAtOnce() async throws {
        let daemon = try startDaemon(self)
        let client = CulvertClient(socketPath: daemon.socketPath)
        let ping = try await client.ping()
        let updates = UpdateLog(client.watch(since: ping.seq, epoch: ping.epoch, policy: testPolicy))
        defer { updates.cancel() }
        let resumed = try await updates.waitFor(".resumed") { $0.count >= 1 }
        XCTAssertEqual(resumed, [.resumed(.replayed(count: 0))])
        _ = try await client.saveProfile(name: "x", extensionIdentifier: "io.culvert.test")
        let next = try await updates.waitFor("the live event") { $0.count >= 2 }
        XCTAssertEqual(next.events.map(\.seq), [ping.seq + 1])
    }

    func testUnreachableAtStartIsAnInterruptionNotAnEnd() async throws {
        let directory = try TemporaryDirectory(prefix: "culvert-late")
        let daemon = DaemonProcess(root: directory.path)
        addTeardownBlock {
            daemon.crash()
            directory.remove()
        }
        let updates = UpdateLog(CulvertClient(socketPath: daemon.socketPath).watch(policy: testPolicy))
        defer { updates.cancel() }
        let down = try await updates.waitFor(".interrupted") { $0.count >= 1 }
        guard case .interrupted(.daemonUnreachable(let path, _)) = down[0] else { return XCTFail("\(down)") }
        XCTAssertEqual(path, daemon.socketPath)
        try await Task.sleep(for: .milliseconds(300))  // several failed attempts: still one report
        XCTAssertEqual(updates.updates.count, 1, "\(updates.updates)")

        try daemon.start()
        let up = try await updates.waitFor("the snapshot") { $0.count >= 3 }
        XCTAssertEqual(up[1], .resumed(.snapshot(.noPosition)))
        XCTAssertEqual(up.events.first?.kind, .snapshot)
    }

    func testAConsumerThatFallsBehindIsDroppedAndResumesWithoutLoss() async throws {
        // A tiny output queue in the daemon and a one-update buffer in the client: a consumer that
        // stops reading gets the subscription dropped, then must get every event exactly once.
        let daemon = try startDaemon(self, arguments: ["--max-queued-output", "4096"], base: "/dev/shm")
        let client = CulvertClient(socketPath: daemon.socketPath)
        let policy = WatchPolicy(initialBackoff: .milliseconds(20), maximumBackoff: .milliseconds(200), maximumBufferedUpdates: 1)
        let stream = client.watch(policy: policy)
        defer { stream.cancel() }
        let first = await Task { () -> WatchUpdate? in
            var iterator = stream.makeAsyncIterator()
            return await iterator.next()
        }.value
        guard case .event(let snapshot)? = first, snapshot.kind == .snapshot else { return XCTFail("\(String(describing: first))") }

        // Far more than the socket buffer plus the daemon's 4 KiB queue, while nobody reads.
        let eventCount = 150
        let padding = String(repeating: "x", count: 4000)
        for i in 0..<eventCount {
            _ = try await client.saveProfile(name: "p\(i)", extensionIdentifier: "io.culvert.test", options: ["padding": padding])
        }
        let updates = UpdateLog(stream)
        defer { updates.cancel() }
        let all = try await updates.waitFor("every event") { $0.events.last?.seq == snapshot.seq + Int64(eventCount) }
        // The replay itself may outrun this consumer again: every drop is reported and resumed from.
        let notices = all.filter { if case .event = $0 { false } else { true } }
        XCTAssertGreaterThanOrEqual(notices.count, 2, "never dropped: \(notices)")
        XCTAssertEqual(notices.count % 2, 0, "\(notices)")
        for pair in stride(from: 0, to: notices.count - 1, by: 2) {
            guard case .interrupted(.droppedAsTooSlow(_, let limit)) = notices[pair], case .resumed(.replayed) = notices[pair + 1] else {
                return XCTFail("expected dropped-then-replayed pairs: \(notices)")
            }
            XCTAssertEqual(limit, 4096)
        }
        XCTAssertEqual(all.events.map(\.seq), Array((snapshot.seq + 1)...(snapshot.seq + Int64(eventCount))))
        assertExactlyOnceInOrder(all, startingAfter: snapshot.seq)
    }

    func testCancellingTheConsumerClosesTheConnection() async throws {
        let daemon = try startDaemon(self)
        let client = CulvertClient(socketPath: daemon.socketPath)
        let baseline = openSockets()

        let updates = UpdateLog(client.watch(policy: testPolicy))
        _ = try await updates.waitFor("the snapshot") { $0.count >= 1 }
        XCTAssertEqual(openSockets(), baseline + 1)
        updates.task.cancel()  // the consuming task, as a UI would on teardown
        let clock = ContinuousClock()
        let started = clock.now
        await updates.task.value
        try await waitUntil("the watch socket is closed") { openSockets() == baseline }
        XCTAssertLessThan(clock.now - started, .seconds(2))

        // A stream that is dropped without ever being iterated stops too.
        do {
            let abandoned = client.watch(policy: testPolicy)
            try await waitUntil("the abandoned stream connects") { openSockets() == baseline + 1 }
            withExtendedLifetime(abandoned) {}
        }
        try await waitUntil("the abandoned stream's socket is closed") { openSockets() == baseline }
    }

    // MARK: watch against a daemon that breaks the contract

    func testGapIsNeverDeliveredAndTheStreamResumesFromTheLastEvent() async throws {
        let epoch = "feedfacefeedfacefeedfacefeedface"
        let fake = try FakeManager { call, connection in
            switch (call.message.member, connection) {
            case ("Ping", 0): return .reply(["version": "fake", "epoch": .string(epoch), "seq": 5])
            case ("Ping", _): return .reply(["version": "fake", "epoch": .string(epoch), "seq": 8])
            case ("Watch", 0):
                return .events([.snapshot(epoch: epoch, seq: 5), .event(epoch: epoch, seq: 6), .event(epoch: epoch, seq: 8)])
            case ("Watch", _): return .events([.event(epoch: epoch, seq: 7), .event(epoch: epoch, seq: 8)])
            default: return .ignore
            }
        }
        defer { fake.stop() }
        let updates = UpdateLog(CulvertClient(socketPath: fake.socketPath).watch(policy: testPolicy))
        defer { updates.cancel() }
        let all = try await updates.waitFor("events up to 8") { $0.events.last?.seq == 8 }
        guard all.count == 6 else { return XCTFail("expected snapshot, 6, interrupted, resumed, 7, 8; got \(all)") }
        XCTAssertEqual(all[2], .interrupted(.protocolViolation("gap: expected seq 7, got 8")))
        XCTAssertEqual(all[3], .resumed(.replayed(count: 2)))
        XCTAssertEqual(all.events.map(\.seq), [5, 6, 7, 8])
        let watches = fake.calls(of: "Watch")
        XCTAssertEqual(watches.count, 2)
        XCTAssertEqual(watches.last?["since"], 6, "the second Watch did not resume from the last delivered event")
        XCTAssertEqual(watches.last?["epoch"], .string(epoch))
    }

    func testRepeatedViolationsInvalidateAndEndTheStream() async throws {
        let epoch = "0badc0de0badc0de0badc0de0badc0de"
        let fake = try FakeManager { call, _ in
            switch call.message.member {
            // Ahead of the snapshot it then sends, so every reconnection really waits for the stream.
            case "Ping": return .reply(["version": "fake", "epoch": .string(epoch), "seq": 9])
            case "Watch": return .events([.snapshot(epoch: epoch, seq: 5), .event(epoch: epoch, seq: 5)])  // a duplicate, every time
            default: return .ignore
            }
        }
        defer { fake.stop() }
        let updates = UpdateLog(CulvertClient(socketPath: fake.socketPath).watch(policy: testPolicy))
        let all = try await updates.waitFor("the end of the stream") { _ in updates.finished }
        guard case .invalidated(.protocolViolations(let count, let last), let hint)? = all.last else { return XCTFail("\(all)") }
        XCTAssertEqual(count, WatchPolicy.defaultMaximumViolations)
        XCTAssertEqual(last, "duplicate seq 5: already delivered up to 5")
        XCTAssertFalse(hint.isEmpty)
        // Each session resynced with its snapshot, then broke the contract: the duplicate is never delivered.
        XCTAssertEqual(all.events.map(\.kind), [.snapshot, .snapshot, .snapshot], "\(all)")
        XCTAssertEqual(all.filter { if case .interrupted(.protocolViolation) = $0 { true } else { false } }.count, 2, "\(all)")
        XCTAssertEqual(updates.updates.count, all.count, "nothing after .invalidated")
    }

    func testPermissionDeniedAndForeignServicesInvalidate() async throws {
        let denying = try FakeManager { call, _ in
            .fail(VarlinkError("io.culvert.Manager.PermissionDenied", ["action": .string(call.message.member), "uid": 1000]))
        }
        defer { denying.stop() }
        let denied = UpdateLog(CulvertClient(socketPath: denying.socketPath).watch(policy: testPolicy))
        let deniedUpdates = try await denied.waitFor("the end of the stream") { _ in denied.finished }
        guard case .invalidated(.permissionDenied(action: "Ping"), _)? = deniedUpdates.last, deniedUpdates.count == 1 else {
            return XCTFail("\(deniedUpdates)")
        }

        let foreign = try FakeManager(interface: nil) { _, _ in .ignore }  // only org.varlink.service
        defer { foreign.stop() }
        let notManager = UpdateLog(CulvertClient(socketPath: foreign.socketPath).watch(policy: testPolicy))
        let foreignUpdates = try await notManager.waitFor("the end of the stream") { _ in notManager.finished }
        guard case .invalidated(.interfaceNotImplemented(let path, let error), _)? = foreignUpdates.last, foreignUpdates.count == 1 else {
            return XCTFail("\(foreignUpdates)")
        }
        XCTAssertEqual(path, foreign.socketPath)
        XCTAssertEqual(error.name, "org.varlink.service.InterfaceNotFound")
    }

    // MARK: helpers

    private func assertThrows<T>(
        _ expected: CulvertClientError, file: StaticString = #filePath, line: UInt = #line,
        _ body: () async throws -> T
    ) async {
        do {
            let value = try await body()
            XCTFail("expected \(expected), got \(value)", file: file, line: line)
        } catch {
            XCTAssertEqual(error as? CulvertClientError, expected, file: file, line: line)
        }
    }

    /// Every event delivered exactly once: within an epoch, each seq is the previous plus one;
    /// a new epoch starts with a snapshot.
    private func assertExactlyOnceInOrder(
        _ updates: [WatchUpdate], startingAfter first: Int64? = nil, file: StaticString = #filePath, line: UInt = #line
    ) {
        var epoch: String?
        var last = first
        for event in updates.events {
            if event.kind == .snapshot {
                epoch = event.epoch
                last = event.seq
                continue
            }
            if epoch == nil, first != nil { epoch = event.epoch }
            XCTAssertEqual(event.epoch, epoch, "event of an unexpected epoch: \(event)", file: file, line: line)
            XCTAssertEqual(event.seq, (last ?? -1) + 1, "gap or duplicate at \(event.seq)", file: file, line: line)
            last = event.seq
        }
    }

    /// Sockets this test process has open (the watch's connection is one of them).
    private func openSockets() -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []  // /proc exists on Linux
        return entries.filter { entry in
            let link = "/proc/self/fd/" + entry
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) ?? ""  // closed while listing: not a socket
            return target.hasPrefix("socket:")
        }.count
    }

    private func waitUntil(_ what: String, file: StaticString = #filePath, line: UInt = #line, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + updateTimeout
        while !condition() {
            guard ContinuousClock.now < deadline else {
                XCTFail("timed out waiting until \(what)", file: file, line: line)
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

// MARK: - collecting updates

/// Consumes a WatchStream on its own task and keeps every update for the test to inspect.
private final class UpdateLog: @unchecked Sendable {  // `store` is guarded by `lock`
    private let lock = NSLock()
    private var store: [WatchUpdate] = []
    private var ended = false
    private(set) var task: Task<Void, Never>!  // set at the end of init, read only after it

    init(_ stream: WatchStream) {
        task = Task { [self] in
            for await update in stream { append(update) }
            markEnded()
        }
    }

    private func markEnded() {
        lock.lock()
        ended = true
        lock.unlock()
    }

    private func append(_ update: WatchUpdate) {
        lock.lock()
        store.append(update)
        lock.unlock()
    }

    var updates: [WatchUpdate] {
        lock.lock()
        defer { lock.unlock() }
        return store
    }

    var finished: Bool {
        lock.lock()
        defer { lock.unlock() }
        return ended
    }

    func cancel() { task.cancel() }

    /// Waits until `condition` holds for the updates so far; fails the test after `updateTimeout`.
    func waitFor(
        _ what: String, file: StaticString = #filePath, line: UInt = #line, _ condition: ([WatchUpdate]) -> Bool
    ) async throws -> [WatchUpdate] {
        let deadline = ContinuousClock.now + updateTimeout
        while true {
            let now = updates
            if condition(now) { return now }
            guard ContinuousClock.now < deadline else {
                XCTFail("timed out waiting for \(what); updates so far: \(now)", file: file, line: line)
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

extension Array where Element == WatchUpdate {
    fileprivate var events: [Event] { compactMap { if case .event(let event) = $0 { event } else { nil } } }
}

// MARK: - a scripted io.culvert.Manager

/// A varlink server that answers io.culvert.Manager calls from a script, for what culvertd never
/// does (gaps, duplicates, silence). Runs on its own queue; `script` gets each call and the index
/// of its connection (0 for the first connection).
private final class FakeManager: @unchecked Sendable {  // `server` and the recordings are confined to `queue`
    enum Response {
        case reply(JSONValue)
        case fail(VarlinkError)
        /// `continues` replies, one per event, and then nothing (the stream stays open).
        case events([Event])
        /// Never answer.
        case ignore
    }

    private static let interfaceText = """
        interface io.culvert.Manager
        method Ping() -> (version: string, epoch: string, seq: int)
        method GetStatus() -> (status: object)
        method Watch(since: ?int, epoch: ?string) -> (event: object)
        """

    let directory: TemporaryDirectory
    let socketPath: String
    private let queue = DispatchQueue(label: "fake-manager")
    private let server: VarlinkServer
    private let handler: Handler

    init(interface: String? = FakeManager.interfaceText, script: @escaping @Sendable (VarlinkCall, Int) -> Response) throws {
        directory = try TemporaryDirectory(prefix: "culvert-fake")
        socketPath = directory.file("io.culvert.Manager")
        server = VarlinkServer(info: VarlinkServiceInfo(vendor: "test", product: "fake", version: "0", url: ""), queue: queue)
        handler = Handler(interfaceDescription: interface ?? "", script: script)
        if interface != nil { try server.register(handler) }
        let listener = try UnixSocket.listen(path: socketPath)
        try queue.sync { try server.start(listener: listener) }
    }

    func stop() {
        queue.sync { server.stop() }
        directory.remove()
    }

    /// The parameters of every call of `member` so far.
    func calls(of member: String) -> [JSONValue] {
        queue.sync { handler.calls.filter { $0.member == member }.map(\.parameters) }
    }

    func waitForCalls(_ count: Int, of member: String) async throws {
        let deadline = ContinuousClock.now + updateTimeout
        while calls(of: member).count < count {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private final class Handler: VarlinkHandler {
        let interfaceDescription: String
        let script: @Sendable (VarlinkCall, Int) -> Response
        var calls: [(member: String, parameters: JSONValue)] = []
        var connections: [UInt64] = []
        /// Unanswered calls are kept so their connections stay open.
        var held: [VarlinkReplier] = []

        init(interfaceDescription: String, script: @escaping @Sendable (VarlinkCall, Int) -> Response) {
            self.interfaceDescription = interfaceDescription
            self.script = script
        }

        func handle(_ call: VarlinkCall, replier: VarlinkReplier) {
            calls.append((call.message.member, call.parameters))
            if !connections.contains(call.connectionID) { connections.append(call.connectionID) }
            let index = connections.firstIndex(of: call.connectionID) ?? 0  // appended just above
            switch script(call, index) {
            case .reply(let parameters):
                replier.reply(parameters)
            case .fail(let error):
                replier.fail(error)
            case .events(let events):
                let encoder = JSONEncoder()
                for event in events {
                    struct Parameters: Encodable { var event: Event }
                    // Encoding the model's own types has no failing case.
                    replier.reply(encodedParameters: Array(try! encoder.encode(Parameters(event: event))), continues: true)
                }
                held.append(replier)
            case .ignore:
                held.append(replier)
            }
        }
    }
}

extension Event {
    fileprivate static func snapshot(epoch: String, seq: Int64) -> Event {
        let daemon = DaemonInfo(version: "fake", pid: 1, epoch: epoch, startedAt: "2025-01-01T00:00:00.000Z")
        return Event(
            seq: seq, epoch: epoch, time: "2025-01-01T00:00:00.000Z", body: EventBody(kind: .snapshot, reason: "no_position"),
            status: ManagerStatus(daemon: daemon, seq: seq, profiles: [], problems: []))
    }

    fileprivate static func event(epoch: String, seq: Int64) -> Event {
        Event(
            seq: seq, epoch: epoch, time: "2025-01-01T00:00:00.000Z",
            body: EventBody(kind: .profileRemoved, name: "p\(seq)"))
    }
}
