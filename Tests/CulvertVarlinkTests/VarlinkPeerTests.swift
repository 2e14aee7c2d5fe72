// VarlinkPeerTests: two VarlinkPeers (or a peer and a raw socket) on a real socketpair, each peer
// on its own queue. Every wait is bounded.

import CulvertSystem
import CulvertVarlink
import Dispatch
import Foundation
import XCTest

private let testInterfaceText = """
    interface org.example.peer

    method Echo(value: int) -> (value: int)
    method Ask(question: string) -> (answer: string)
    method Count(upTo: int) -> (value: int)
    method Note(text: string) -> ()
    method Write(text: string, pad: ?string) -> ()
    method Hang() -> ()
    """

private let timeout: TimeInterval = 20

/// State shared by the test thread and the peers' queues.
private final class Shared<Value>: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func with<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
    var snapshot: Value { with { $0 } }
}

/// One peer on its own queue.
private struct Side {
    let peer: VarlinkPeer
    let queue: DispatchQueue
    let closes = Shared<[VarlinkPeerCloseReason]>([])
    let closed = XCTestExpectation(description: "closed")

    init(_ descriptor: Descriptor, interface: VarlinkInterface, serves: Set<String>, limits: VarlinkPeerLimits, name: String) {
        queue = DispatchQueue(label: "peer-test.\(name)")
        peer = VarlinkPeer(descriptor: descriptor, interface: interface, serves: serves, limits: limits, queue: queue)
    }

    /// Installs the handler and starts the peer.
    func start(onCall: ((VarlinkPeerCall, VarlinkPeerResponder) -> Void)? = nil) {
        let closes = self.closes
        let closed = self.closed
        queue.sync {
            peer.onCall = onCall
            peer.onClose = { reason in
                closes.with { $0.append(reason) }
                closed.fulfill()
            }
            peer.start()
        }
    }

    /// Makes a call from the peer's queue; results are collected in order.
    func call(
        _ method: String, _ parameters: JSONValue = [:], passing descriptors: [Descriptor] = [], more: Bool = false, oneway: Bool = false,
        into results: Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>? = nil, done: XCTestExpectation? = nil
    ) {
        queue.async { [peer] in
            peer.call(method, parameters: parameters, passing: descriptors, more: more, oneway: oneway) { result in
                results?.with { $0.append(result) }
                if case .success(let reply) = result, reply.continues { return }
                done?.fulfill()
            }
        }
    }

    func close() { queue.sync { peer.close() } }
}

final class VarlinkPeerTests: XCTestCase {
    private var interface: VarlinkInterface!

    override func setUpWithError() throws {
        interface = try VarlinkInterface(parsing: testInterfaceText)
    }

    private func makePair(
        servesA: Set<String>, servesB: Set<String>, limitsB: VarlinkPeerLimits = VarlinkPeerLimits(), interface: VarlinkInterface? = nil
    ) throws -> (Side, Side) {
        let (x, y) = try DescriptorPassing.socketPair()
        let chosen = interface ?? self.interface!
        return (
            Side(x, interface: chosen, serves: servesA, limits: VarlinkPeerLimits(), name: "a"),
            Side(y, interface: chosen, serves: servesB, limits: limitsB, name: "b")
        )
    }

    /// Closes both peers and waits for both close handlers.
    private func finish(_ sides: Side...) {
        for side in sides where side.closes.snapshot.isEmpty { side.close() }
        wait(for: sides.map(\.closed), timeout: timeout)
    }

    private func echoHandler(_ call: VarlinkPeerCall, _ responder: VarlinkPeerResponder) {
        XCTAssertEqual(call.descriptors.count, 0)
        responder.reply(["value": call.parameters["value"] ?? .null])
    }

    private func makePipe() throws -> (read: Descriptor, write: Descriptor) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw SystemError(call: "pipe", errno: errno) }
        return (Descriptor(rawValue: fds[0]), Descriptor(rawValue: fds[1]))
    }

    /// Everything readable from `descriptor` until end of file, waiting at most `timeout` for each read.
    private func readToEnd(_ descriptor: Descriptor) throws -> String {
        var bytes: [UInt8] = []
        while true {
            guard try descriptor.waitReadable(timeoutMilliseconds: Int32(timeout * 1000)) else {
                XCTFail("no end of file in time")
                break
            }
            if try descriptor.read(appendingTo: &bytes, maximum: 4096) == 0 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Waits until the process has at most `count` descriptors open (closing happens on the peers'
    /// queues). At most, not exactly: descriptors of earlier tests may still be closing
    /// asynchronously when the baseline is taken, and fall away meanwhile; a leak shows as more.
    private func waitForDescriptorCount(_ count: Int) {
        let deadline = Date().addingTimeInterval(timeout)
        while Identity.openDescriptorCount() > count, Date() < deadline { usleep(10_000) }
        XCTAssertLessThanOrEqual(Identity.openDescriptorCount(), count, "descriptors leaked")
    }

    // MARK: interface

    func testBundledProviderInterfaceParses() throws {
        let provider = try VarlinkInterface(parsing: VarlinkBundledInterfaces.ioCulvertProvider)
        XCTAssertEqual(provider.name, "io.culvert.Provider")
        XCTAssertEqual(
            Set(provider.methodNames),
            [
                "StartTunnel", "StopTunnel", "HandleAppMessage", "Reattach", "PrepareHandover", "ResumeAfterFailedHandover",
                "ImportHandover", "SetTunnelNetworkSettings", "Protect", "SetReasserting", "CancelTunnel",
            ])
    }

    // MARK: calls

    func testCallsInBothDirectionsOnOneSocket() throws {
        let (a, b) = try makePair(servesA: ["Echo"], servesB: ["Ask"])
        a.start(onCall: echoHandler)
        b.start { call, responder in
            responder.reply(["answer": .string("re: " + (call.parameters["question"]?.stringValue ?? ""))])
        }
        let fromB = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let fromA = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let doneA = expectation(description: "A's call answered")
        let doneB = expectation(description: "B's call answered")
        a.call("org.example.peer.Ask", ["question": "why"], into: fromB, done: doneA)
        b.call("org.example.peer.Echo", ["value": 7], into: fromA, done: doneB)
        wait(for: [doneA, doneB], timeout: timeout)
        XCTAssertEqual(try fromB.snapshot.first?.get().parameters, ["answer": "re: why"])
        XCTAssertEqual(try fromA.snapshot.first?.get().parameters, ["value": 7])
        finish(a, b)
        XCTAssertEqual(a.closes.snapshot, [.closedLocally])
    }

    /// The provider pattern: StartTunnel is answered only after the provider's own
    /// SetTunnelNetworkSettings call, on the same socket, got its reply.
    func testHandlerWaitsForItsOwnCallBeforeReplying() throws {
        let provider = try VarlinkInterface(parsing: VarlinkBundledInterfaces.ioCulvertProvider)
        let (daemon, extensionSide) = try makePair(
            servesA: ["SetTunnelNetworkSettings", "Protect", "SetReasserting", "CancelTunnel"],
            servesB: ["StartTunnel", "StopTunnel", "HandleAppMessage"], interface: provider)
        let events = Shared<[String]>([])
        daemon.start { call, responder in
            XCTAssertEqual(call.message.member, "SetTunnelNetworkSettings")
            events.with { $0.append("applied mtu \(call.parameters["settings"]?["mtu"]?.intValue ?? 0)") }
            responder.reply()
        }
        let providerPeer = extensionSide.peer
        extensionSide.start { call, responder in
            XCTAssertEqual(call.message.member, "StartTunnel")
            events.with { $0.append("start \(call.parameters["session"]?["profile"]?.stringValue ?? "")") }
            let settings: JSONValue = ["settings": ["mtu": 1420, "ipv4": ["addresses": ["10.9.0.2/24"], "includedRoutes": ["0.0.0.0/0"]]]]
            providerPeer.call("io.culvert.Provider.SetTunnelNetworkSettings", parameters: settings) { result in
                switch result {
                case .success:
                    events.with { $0.append("settings acknowledged") }
                    responder.reply()
                case .failure(let error):
                    responder.fail(
                        VarlinkError("io.culvert.Provider.TunnelFailed", ["reason": "settings", "description": .string("\(error)")]))
                }
            }
        }
        let results = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let started = expectation(description: "StartTunnel answered")
        let parameters: JSONValue = [
            "session": ["profile": "office", "session": "s1", "interface": "tun7", "protocol": 1], "options": [:], "secrets": ["key": "k"],
        ]
        daemon.call("io.culvert.Provider.StartTunnel", parameters, into: results, done: started)
        wait(for: [started], timeout: timeout)
        events.with { $0.append("started") }
        XCTAssertNoThrow(try results.snapshot.first?.get())
        XCTAssertEqual(events.snapshot, ["start office", "applied mtu 1420", "settings acknowledged", "started"])
        finish(daemon, extensionSide)
    }

    func testMoreStreamsContinuesThenFinal() throws {
        let (a, b) = try makePair(servesA: [], servesB: ["Count"])
        b.start { call, responder in
            let n = call.parameters["upTo"]?.intValue ?? 0
            for i in 1...n { responder.reply(["value": .int(i)], continues: i < n) }
        }
        a.start()
        let streamed = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let single = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let doneStream = expectation(description: "stream ended")
        let doneSingle = expectation(description: "single reply")
        a.call("org.example.peer.Count", ["upTo": 5], more: true, into: streamed, done: doneStream)
        a.call("org.example.peer.Count", ["upTo": 3], into: single, done: doneSingle)
        wait(for: [doneStream, doneSingle], timeout: timeout)
        let replies = try streamed.snapshot.map { try $0.get() }
        XCTAssertEqual(replies.map(\.parameters), [["value": 1], ["value": 2], ["value": 3], ["value": 4], ["value": 5]])
        XCTAssertEqual(replies.map(\.continues), [true, true, true, true, false])
        // Without `more` the first reply is the final one and the handler's later replies are dropped.
        XCTAssertEqual(try single.snapshot.map { try $0.get().parameters }, [["value": 1]])
        finish(a, b)
    }

    func testOnewayIsHandledAndGetsNoReply() throws {
        let (a, b) = try makePair(servesA: [], servesB: ["Note", "Echo"])
        let notes = Shared<[String]>([])
        b.start { [self] call, responder in
            if call.message.member == "Note" {
                XCTAssertTrue(call.message.oneway)
                XCTAssertFalse(responder.isActive)
                notes.with { $0.append(call.parameters["text"]?.stringValue ?? "") }
                responder.reply()  // dropped: nothing may reach the caller
            } else {
                echoHandler(call, responder)
            }
        }
        a.start()
        let onewayResults = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let echo = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let done = expectation(description: "echo answered")
        a.call("org.example.peer.Note", ["text": "hi"], oneway: true, into: onewayResults)
        a.call("org.example.peer.Echo", ["value": 1], into: echo, done: done)
        wait(for: [done], timeout: timeout)
        XCTAssertEqual(notes.snapshot, ["hi"])
        // Had B replied to the oneway call, Echo would have received that reply instead of its own.
        XCTAssertEqual(try echo.snapshot.map { try $0.get().parameters }, [["value": 1]])
        finish(a, b)
        XCTAssertEqual(onewayResults.snapshot.count, 0)
    }

    func testManyPipelinedCallsAreHandledOneAtATimeInOrder() throws {
        let count = 1000
        let (a, b) = try makePair(servesA: [], servesB: ["Echo"])
        let seen = Shared<[Int64]>([])
        let inProgress = Shared(0)
        let bQueue = b.queue
        b.start { call, responder in
            XCTAssertEqual(
                inProgress.with {
                    $0 += 1
                    return $0
                }, 1, "two calls handled at once")
            seen.with { $0.append(call.parameters["value"]?.intValue ?? -1) }
            let value = call.parameters["value"] ?? .null
            let answer: @Sendable () -> Void = {
                inProgress.with { $0 -= 1 }
                responder.reply(["value": value])
            }
            // Every third call is answered on a later turn, so calls queue up behind it.
            if (call.parameters["value"]?.intValue ?? 0) % 3 == 0 { bQueue.async(execute: answer) } else { answer() }
        }
        a.start()
        let results = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let done = expectation(description: "all answered")
        done.expectedFulfillmentCount = count
        a.queue.sync {
            for i in 0..<count {
                a.peer.call("org.example.peer.Echo", parameters: ["value": .int(Int64(i))]) { result in
                    results.with { $0.append(result) }
                    done.fulfill()
                }
            }
        }
        wait(for: [done], timeout: timeout)
        XCTAssertEqual(seen.snapshot, (0..<count).map { Int64($0) })
        XCTAssertEqual(try results.snapshot.map { try $0.get().parameters["value"]?.intValue }, (0..<count).map { Int64($0) })
        finish(a, b)
    }

    // MARK: refusals

    func testStandardErrorsForCallsTheEndDoesNotServe() throws {
        let (a, b) = try makePair(servesA: ["Ask"], servesB: ["Echo"])
        let handled = Shared(0)
        b.start { [self] call, responder in
            handled.with { $0 += 1 }
            echoHandler(call, responder)
        }
        a.start()
        let results = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let done = expectation(description: "all answered")
        done.expectedFulfillmentCount = 5
        a.call("org.example.peer.Ask", ["question": "q"], into: results, done: done)  // A serves it, B does not
        a.call("org.example.peer.Echo", ["value": "seven"], into: results, done: done)
        a.call("org.example.peer.Nope", into: results, done: done)
        a.call("org.example.other.Echo", ["value": 1], into: results, done: done)
        a.call("org.example.peer.Echo", ["value": 2], into: results, done: done)
        wait(for: [done], timeout: timeout)
        let outcomes = results.snapshot
        XCTAssertEqual(outcomes.count, 5)
        func failure(_ index: Int) -> VarlinkPeerCallError? {
            if case .failure(let error) = outcomes[index] { return error }
            return nil
        }
        XCTAssertEqual(failure(0), .remote(.methodNotImplemented("org.example.peer.Ask")))
        XCTAssertEqual(failure(1), .remote(.invalidParameter("value")))
        XCTAssertEqual(failure(2), .remote(.methodNotFound("org.example.peer.Nope")))
        XCTAssertEqual(failure(3), .remote(.interfaceNotFound("org.example.other")))
        XCTAssertEqual(try outcomes[4].get().parameters, ["value": 2])
        XCTAssertEqual(handled.snapshot, 1, "only the valid call reaches the handler")
        finish(a, b)
    }

    // MARK: descriptors

    func testDescriptorPassedWithACallIsUsableByTheReceiver() throws {
        let before = Identity.openDescriptorCount()
        let (a, b) = try makePair(servesA: [], servesB: ["Write"])
        b.start { call, responder in
            XCTAssertEqual(call.descriptors.count, 1)
            for descriptor in call.descriptors {
                do { try descriptor.writeAll(Array((call.parameters["text"]?.stringValue ?? "").utf8)) } catch { XCTFail("\(error)") }
                descriptor.close()
            }
            responder.reply()
        }
        a.start()
        let (readEnd, writeEnd) = try makePipe()
        let results = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let done = expectation(description: "answered")
        a.call("org.example.peer.Write", ["text": "through the tunnel"], passing: [writeEnd], into: results, done: done)
        wait(for: [done], timeout: timeout)
        XCTAssertNoThrow(try results.snapshot.first?.get())
        // End of file proves the sender closed its copy once sent and the receiver closed its own.
        XCTAssertEqual(try readToEnd(readEnd), "through the tunnel")
        readEnd.close()
        finish(a, b)
        waitForDescriptorCount(before)
    }

    /// Many calls, some with descriptors and some without, one large, all sent before the
    /// receiver reads: every descriptor must arrive with its own call.
    func testDescriptorsInABurstAreAttributedToTheirMessages() throws {
        let before = Identity.openDescriptorCount()
        let (a, b) = try makePair(servesA: [], servesB: ["Write", "Echo"])
        let count = 60
        var pipes: [Int: (read: Descriptor, write: Descriptor)] = [:]
        a.start()
        let done = expectation(description: "all answered")
        done.expectedFulfillmentCount = count
        let results = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        for i in 0..<count {
            if i % 3 == 2 {
                a.call("org.example.peer.Echo", ["value": .int(Int64(i))], into: results, done: done)
                continue
            }
            let pair = try makePipe()
            pipes[i] = pair
            // One call in the middle is larger than a read chunk, so its descriptors arrive with a partial read.
            let pad = i == 31 ? String(repeating: "p", count: 300_000) : ""
            a.call(
                "org.example.peer.Write", ["text": .string("\(i)"), "pad": .string(pad)], passing: [pair.write], into: results, done: done)
        }
        usleep(100_000)  // let A queue everything in the socket before B reads any of it
        b.start { [self] call, responder in
            if call.message.member == "Echo" {
                echoHandler(call, responder)
                return
            }
            XCTAssertEqual(call.descriptors.count, 1, "call \(call.parameters["text"] ?? .null)")
            for descriptor in call.descriptors {
                do { try descriptor.writeAll(Array((call.parameters["text"]?.stringValue ?? "").utf8)) } catch { XCTFail("\(error)") }
                descriptor.close()
            }
            responder.reply()
        }
        wait(for: [done], timeout: timeout)
        XCTAssertEqual(results.snapshot.filter { (try? $0.get()) == nil }.count, 0)
        for (i, pair) in pipes.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(try readToEnd(pair.read), "\(i)")
            pair.read.close()
        }
        finish(a, b)
        waitForDescriptorCount(before)
    }

    func testTooManyDescriptorsClosesTheConnectionAndLeaksNothing() throws {
        let before = Identity.openDescriptorCount()
        var limits = VarlinkPeerLimits()
        limits.maximumDescriptorsPerMessage = 2
        let (a, b) = try makePair(servesA: [], servesB: ["Write"], limitsB: limits)
        b.start { _, _ in XCTFail("the call must not reach the handler") }
        a.start()
        let pipes = try (0..<3).map { _ in try makePipe() }
        let results = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let done = expectation(description: "call ended")
        a.call("org.example.peer.Write", ["text": "x"], passing: pipes.map(\.write), into: results, done: done)
        wait(for: [done, a.closed, b.closed], timeout: timeout)
        XCTAssertEqual(b.closes.snapshot, [.tooManyDescriptors])
        XCTAssertEqual(a.closes.snapshot, [.peerClosed])
        if case .failure(.closed(.peerClosed))? = results.snapshot.first {} else { XCTFail("got \(results.snapshot)") }
        pipes.forEach { $0.read.close() }
        waitForDescriptorCount(before)
    }

    /// Descriptors that arrive with bytes in which no message starts cannot be attributed.
    func testDescriptorsWithoutAMessageStartAreAProtocolError() throws {
        let before = Identity.openDescriptorCount()
        let (raw, end) = try DescriptorPassing.socketPair()
        let b = Side(end, interface: interface, serves: ["Echo"], limits: VarlinkPeerLimits(), name: "b")
        b.start { _, _ in XCTFail("no message was complete") }
        let (readEnd, writeEnd) = try makePipe()
        // recvmsg stops after each chunk carrying descriptors, so these arrive as two reads; the
        // second starts no message.
        XCTAssertEqual(try raw.send(Array(#"{"method":"#.utf8), passing: [writeEnd]), 10)
        XCTAssertEqual(try raw.send(Array(#""org.example.peer.Echo"}"#.utf8), passing: [readEnd]), 24)
        readEnd.close()
        writeEnd.close()
        wait(for: [b.closed], timeout: timeout)
        guard case .protocolError? = b.closes.snapshot.first else { return XCTFail("got \(b.closes.snapshot)") }
        raw.close()
        waitForDescriptorCount(before)
    }

    // MARK: closing

    func testOversizeMessageClosesTheConnection() throws {
        var limits = VarlinkPeerLimits()
        limits.maximumMessageSize = 1024
        let (a, b) = try makePair(servesA: [], servesB: ["Write"], limitsB: limits)
        b.start { _, _ in XCTFail("the call must not reach the handler") }
        a.start()
        let results = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let done = expectation(description: "call ended")
        a.call("org.example.peer.Write", ["text": "x", "pad": .string(String(repeating: "p", count: 4000))], into: results, done: done)
        wait(for: [done, a.closed, b.closed], timeout: timeout)
        XCTAssertEqual(b.closes.snapshot, [.tooLarge])
        if case .failure(.closed(.peerClosed))? = results.snapshot.first {} else { XCTFail("got \(results.snapshot)") }
    }

    func testUnterminatedOversizeInputClosesTheConnection() throws {
        var limits = VarlinkPeerLimits()
        limits.maximumMessageSize = 1024
        let (raw, end) = try DescriptorPassing.socketPair()
        defer { raw.close() }
        let b = Side(end, interface: interface, serves: [], limits: limits, name: "b")
        b.start()
        try raw.sendAll(Array(repeating: UInt8(ascii: " "), count: 2048))
        wait(for: [b.closed], timeout: timeout)
        XCTAssertEqual(b.closes.snapshot, [.tooLarge])
    }

    func testPeerClosingMidCallCompletesPendingCallsAndClosesOnce() throws {
        let (a, b) = try makePair(servesA: [], servesB: ["Hang"])
        let bPeer = b.peer
        let bQueue = b.queue
        b.start { _, _ in
            bQueue.asyncAfter(deadline: .now() + .milliseconds(50)) { bPeer.close() }  // never answers
        }
        a.start()
        let results = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let done = expectation(description: "both calls ended")
        done.expectedFulfillmentCount = 2
        a.call("org.example.peer.Hang", into: results, done: done)
        a.call("org.example.peer.Hang", into: results, done: done)
        wait(for: [done, a.closed, b.closed], timeout: timeout)
        XCTAssertEqual(results.snapshot.count, 2)
        for result in results.snapshot {
            if case .failure(.closed(.peerClosed)) = result {} else { XCTFail("got \(result)") }
        }
        // A call made after the close still completes, later.
        let late = expectation(description: "late call ended")
        a.call("org.example.peer.Hang", into: results, done: late)
        wait(for: [late], timeout: timeout)
        if case .failure(.closed(.peerClosed))? = results.snapshot.last {} else { XCTFail("got \(results.snapshot)") }
        usleep(50_000)  // room for a second close notification, which must not come
        XCTAssertEqual(a.closes.snapshot, [.peerClosed])
        XCTAssertEqual(b.closes.snapshot, [.closedLocally])
    }

    func testGarbageIsAProtocolError() throws {
        for garbage in ["hello\0", "[1,2]\0", #"{"parameters":{}}"# + "\0", #"{"method":17}"# + "\0"] {
            let (raw, end) = try DescriptorPassing.socketPair()
            defer { raw.close() }
            let b = Side(end, interface: interface, serves: ["Echo"], limits: VarlinkPeerLimits(), name: "b")
            b.start { _, _ in XCTFail("garbage reached the handler") }
            try raw.sendAll(Array(garbage.utf8))
            wait(for: [b.closed], timeout: timeout)
            guard case .protocolError? = b.closes.snapshot.first else { return XCTFail("\(garbage): got \(b.closes.snapshot)") }
        }
    }

    func testAPeerThatDoesNotReadIsDroppedForOutputOverflow() throws {
        var limits = VarlinkPeerLimits()
        limits.maximumQueuedOutput = 64 << 10
        let (raw, end) = try DescriptorPassing.socketPair()
        defer { raw.close() }
        let b = Side(end, interface: interface, serves: [], limits: limits, name: "b")
        b.start()
        let results = Shared<[Result<VarlinkPeerReply, VarlinkPeerCallError>]>([])
        let done = expectation(description: "every call ended")
        done.expectedFulfillmentCount = 200
        b.queue.sync {
            // Far more than the socket buffer plus the output limit; `raw` never reads. Calls made
            // after the overflow end later, on the queue.
            for _ in 0..<200 {
                b.peer.call("org.example.peer.Write", parameters: ["text": .string(String(repeating: "x", count: 8 << 10))]) { result in
                    results.with { $0.append(result) }
                    done.fulfill()
                }
            }
        }
        wait(for: [b.closed, done], timeout: timeout)
        XCTAssertEqual(b.closes.snapshot, [.outputOverflow])
        XCTAssertEqual(results.snapshot.count, 200)
        XCTAssertTrue(results.snapshot.allSatisfy { if case .failure(.closed(.outputOverflow)) = $0 { true } else { false } })
    }
}
