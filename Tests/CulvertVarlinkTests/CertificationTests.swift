// Tests for org.varlink.certification: our client against our server in-process, and each side
// catching a deliberately wrong peer. (Both directions against the python reference implementation
// are scripts/certify.)

import CulvertSystem
import Dispatch
import Foundation
import XCTest

@testable import CulvertVarlink

/// Bound on any single wait for a reply in these tests.
private let replyTimeoutMilliseconds: Int32 = 10_000

// MARK: - Fixtures

/// A VarlinkServer on a socket in a private temporary directory.
private final class TestServer: Sendable {
    let queue = DispatchQueue(label: "culvert.tests.certification")
    let server: VarlinkServer
    let directory: String
    let path: String
    let listener: Descriptor

    /// Starts serving; `makeHandler` runs on the server queue, where the handler then lives.
    init(_ makeHandler: () -> any VarlinkHandler) throws {
        directory = NSTemporaryDirectory() + "culvert-cert-" + WallClock.randomIdentifier()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        path = directory + "/certification.sock"
        listener = try UnixSocket.listen(path: path)
        server = VarlinkServer(
            info: VarlinkServiceInfo(vendor: "Culvert", product: "CertificationTests", version: "1", url: "https://varlink.org/"),
            queue: queue)
        try queue.sync { () throws -> Void in
            try server.register(makeHandler())
            try server.start(listener: listener)
        }
    }

    func stop() {
        queue.sync { server.stop() }
        listener.close()
        try? FileManager.default.removeItem(atPath: directory)  // a leftover temp directory harms no later test
    }

    func connect() throws -> VarlinkClientConnection {
        try VarlinkClientConnection(path: path)
    }
}

/// A monotonic clock the test moves by hand.
private final class ManualClock: @unchecked Sendable {  // `value` is only touched under `lock`
    private let lock = NSLock()
    private var value: UInt64 = 1_000_000_000

    var now: UInt64 { lock.withLock { value } }

    func advance(by duration: Duration) {
        let nanoseconds = UInt64(duration.components.seconds) * 1_000_000_000 + UInt64(duration.components.attoseconds / 1_000_000_000)
        lock.withLock { value += nanoseconds }
    }
}

/// What a broken certification server does wrong at one step.
private enum Misbehaviour {
    /// Replies with these parameters instead of the script's.
    case reply(JSONValue)
    /// Test10: streams only this many replies (the last one final).
    case streamOnly(Int)
    /// Fails the call with this error.
    case fail(VarlinkError)
    /// Never answers.
    case silent
}

/// A certification server that follows the script except at `step`, to check that our client
/// catches a wrong server. It checks nothing it is sent.
private final class BrokenCertificationServer: VarlinkHandler {
    let step: CertificationStep
    let misbehaviour: Misbehaviour
    /// Calls left unanswered (`.silent`), kept so they stay open rather than being dropped.
    private var unanswered: [VarlinkReplier] = []

    init(at step: CertificationStep, _ misbehaviour: Misbehaviour) {
        self.step = step
        self.misbehaviour = misbehaviour
    }

    var interfaceDescription: String { VarlinkBundledInterfaces.orgVarlinkCertification }

    func handle(_ call: VarlinkCall, replier: VarlinkReplier) {
        guard let called = CertificationStep(rawValue: call.message.member) else { return }
        let clientID = "broken-server-run"
        var streamed = CertificationScript.streamedReplyCount
        if called == step {
            switch misbehaviour {
            case .reply(let parameters):
                replier.reply(parameters)
                return
            case .fail(let error):
                replier.fail(error)
                return
            case .silent:
                unanswered.append(replier)
                return
            case .streamOnly(let count):
                streamed = count
            }
        }
        if called == .test10 {
            for index in 0..<streamed { replier.reply(CertificationScript.streamedReply(index), continues: index < streamed - 1) }
        } else if called != .test11 {
            replier.reply(CertificationScript.reply(to: called, clientID: clientID))
        }
    }
}

extension VarlinkClientConnection {
    /// Sends `call` and returns its replies up to the final one (none for oneway calls).
    fileprivate func perform(_ call: VarlinkCallMessage) throws -> [VarlinkReplyMessage] {
        try send(call)
        guard !call.oneway else { return [] }
        var replies: [VarlinkReplyMessage] = []
        repeat {
            replies.append(try receive(timeoutMilliseconds: replyTimeoutMilliseconds))
        } while replies.last!.continues && replies.last!.error == nil  // the loop body appended one
        return replies
    }

    /// Calls `step` exactly as the script says and expects a single successful reply.
    @discardableResult
    fileprivate func scripted(_ step: CertificationStep, clientID: String) throws -> JSONValue {
        try call(
            step.method, CertificationScript.call(for: step, clientID: clientID).parameters, timeoutMilliseconds: replyTimeoutMilliseconds)
    }

    /// Starts a run and makes every scripted call before `step`; returns the client id.
    fileprivate func runScript(upTo step: CertificationStep) throws -> String {
        let clientID = try scripted(.start, clientID: "")["client_id"]?.stringValue ?? ""
        for current in CertificationStep.allCases.dropFirst() {
            guard current != step else { break }
            let replies = try perform(CertificationScript.call(for: current, clientID: clientID))
            XCTAssertNil(
                replies.last?.error, "\(current) failed: \(replies.last.map { "\($0.error ?? "") \($0.parameters.jsonString)" } ?? "")")
        }
        return clientID
    }
}

/// The CertificationError a call failed with, or a test failure.
private func certificationError(
    _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line
) -> CertificationMismatch? {
    do {
        try body()
        XCTFail("the call succeeded; a CertificationError was expected", file: file, line: line)
    } catch VarlinkClientError.remote(let error) {
        if let mismatch = CertificationMismatch(error) { return mismatch }
        XCTFail("failed with \(error), not CertificationError", file: file, line: line)
    } catch {
        XCTFail("failed with \(error), not an error reply", file: file, line: line)
    }
    return nil
}

// MARK: - Our client against our server

final class RoundTripCertificationTests: XCTestCase {
    func testOurClientPassesAgainstOurServer() throws {
        let server = try TestServer { CertificationService() }
        defer { server.stop() }
        let result = try CertificationClient(path: server.path).run()

        XCTAssertEqual(result.exchanges.map(\.step), CertificationStep.allCases)
        XCTAssertEqual(result.clientID.count, 32)
        let streamed = result.exchanges.first { $0.step == .test10 }?.replies ?? []
        XCTAssertEqual(streamed.compactMap { $0["string"]?.stringValue }, CertificationScript.streamedStrings)
        XCTAssertEqual(result.exchanges.last?.replies, [["all_ok": true]])
        XCTAssertEqual(server.queue.sync { (server.server.interfaceNames) }, ["org.varlink.service", "org.varlink.certification"])
    }

    func testRunsOnConcurrentConnectionsAreIndependent() throws {
        let server = try TestServer { CertificationService() }
        defer { server.stop() }
        let first = try server.connect()
        let second = try server.connect()
        let firstID = try first.runScript(upTo: .test05)
        let secondID = try second.runScript(upTo: .test03)
        XCTAssertNotEqual(firstID, secondID)
        try first.scripted(.test05, clientID: firstID)
        try second.scripted(.test03, clientID: secondID)
    }

    func testServerAnswersGetInfoAndServesTheInterfaceVerbatim() throws {
        let server = try TestServer { CertificationService() }
        defer { server.stop() }
        let connection = try server.connect()
        let info = try connection.call("org.varlink.service.GetInfo", timeoutMilliseconds: replyTimeoutMilliseconds)
        XCTAssertEqual(info["interfaces"], ["org.varlink.service", "org.varlink.certification"])
        let description = try connection.call(
            "org.varlink.service.GetInterfaceDescription", ["interface": "org.varlink.certification"],
            timeoutMilliseconds: replyTimeoutMilliseconds)
        XCTAssertEqual(description["description"]?.stringValue, VarlinkBundledInterfaces.orgVarlinkCertification)
    }
}

// MARK: - Our server catching a wrong client

final class ServerSideCertificationTests: XCTestCase {
    func testWrongBoolInTest02IsRejectedWithWantsAndGotAndEndsTheRun() throws {
        let server = try TestServer { CertificationService() }
        defer { server.stop() }
        let connection = try server.connect()
        let clientID = try connection.runScript(upTo: .test02)

        let mismatch = certificationError {
            _ = try connection.call(
                CertificationStep.test02.method, ["client_id": .string(clientID), "bool": false],
                timeoutMilliseconds: replyTimeoutMilliseconds)
        }
        XCTAssertEqual(
            mismatch?.wants,
            ["method": "org.varlink.certification.Test02", "parameters": ["client_id": .string(clientID), "bool": true]])
        XCTAssertEqual(
            mismatch?.got, ["method": "org.varlink.certification.Test02", "parameters": ["client_id": .string(clientID), "bool": false]])

        // As the reference server does, a wrong value ends the run: its id is no longer known.
        XCTAssertThrowsError(try connection.scripted(.test03, clientID: clientID)) { error in
            XCTAssertEqual(error as? VarlinkClientError, .remote(CertificationMismatch.clientIDError))
        }
    }

    func testWrongValuesAtEveryStepAreRejected() throws {
        let server = try TestServer { CertificationService() }
        defer { server.stop() }
        let connection = try server.connect()
        // One wrong value per step, each in a fresh run; every one must be caught at that step.
        let wrong: [(CertificationStep, String, JSONValue)] = [
            (.test03, "int", 2), (.test04, "float", 1.5), (.test05, "string", "pong"),
            (.test06, "float", 3.14), (.test07, "struct", ["bool": false, "int": 2, "float": 3.0, "string": "a lot of string"]),
            (.test08, "map", ["foo": "Foo"]), (.test09, "set", ["one": [:], "two": [:]]),
        ]
        for (step, field, value) in wrong {
            let clientID = try connection.runScript(upTo: step)
            var parameters = CertificationScript.call(for: step, clientID: clientID).parameters.objectValue ?? [:]
            parameters[field] = value
            let mismatch = certificationError {
                _ = try connection.call(step.method, .object(parameters), timeoutMilliseconds: replyTimeoutMilliseconds)
            }
            XCTAssertEqual(mismatch?.got["parameters"]?[field], value, "\(step)")
            XCTAssertEqual(mismatch?.wants, CertificationScript.call(for: step, clientID: clientID).messageObject, "\(step)")
        }
    }

    func testOutOfOrderCallIsRejectedAndTheRunContinues() throws {
        let server = try TestServer { CertificationService() }
        defer { server.stop() }
        let connection = try server.connect()
        let clientID = try connection.runScript(upTo: .test01)

        let mismatch = certificationError { try connection.scripted(.test02, clientID: clientID) }
        XCTAssertEqual(mismatch?.wants, ["method": "org.varlink.certification.Test01"])
        XCTAssertEqual(mismatch?.got, ["method": "org.varlink.certification.Test02"])
        XCTAssertEqual(try connection.scripted(.test01, clientID: clientID), ["bool": true])
    }

    func testUnknownClientIDIsClientIdError() throws {
        let server = try TestServer { CertificationService() }
        defer { server.stop() }
        let connection = try server.connect()
        XCTAssertThrowsError(try connection.scripted(.test01, clientID: "not-a-client")) { error in
            XCTAssertEqual(error as? VarlinkClientError, .remote(VarlinkError("org.varlink.certification.ClientIdError")))
        }
    }

    func testTest10WithoutMoreIsRejected() throws {
        let server = try TestServer { CertificationService() }
        defer { server.stop() }
        let connection = try server.connect()
        let clientID = try connection.runScript(upTo: .test10)
        var call = CertificationScript.call(for: .test10, clientID: clientID)
        call.more = false
        let mismatch = certificationError {
            _ = try connection.call(call.method, call.parameters, timeoutMilliseconds: replyTimeoutMilliseconds)
        }
        XCTAssertEqual(mismatch?.wants["more"], true)
        XCTAssertNil(mismatch?.got["more"])
    }

    func testNullOptionalsInTest10AreTheSameAsAbsent() throws {
        let server = try TestServer { CertificationService() }
        defer { server.stop() }
        let connection = try server.connect()
        let clientID = try connection.runScript(upTo: .test10)
        var call = CertificationScript.call(for: .test10, clientID: clientID)
        var mytype = CertificationScript.myType.objectValue ?? [:]
        mytype["nullable"] = .null
        mytype["nullable_array_struct"] = .null
        call.parameters = ["client_id": .string(clientID), "mytype": .object(mytype)]
        let replies = try connection.perform(call)
        XCTAssertEqual(replies.map(\.parameters), CertificationScript.streamedStrings.map { ["string": .string($0)] })
        XCTAssertEqual(replies.map(\.continues), Array(repeating: true, count: 9) + [false])
    }

    func testWrongOnewayTest11IsReportedByEnd() throws {
        let server = try TestServer { CertificationService() }
        defer { server.stop() }
        let connection = try server.connect()
        let clientID = try connection.runScript(upTo: .test11)
        var call = CertificationScript.call(for: .test11, clientID: clientID)
        call.parameters = ["client_id": .string(clientID), "last_more_replies": ["Reply number 1"]]
        XCTAssertEqual(try connection.perform(call), [])  // oneway: nothing comes back, right or wrong

        let mismatch = certificationError { try connection.scripted(.end, clientID: clientID) }
        XCTAssertEqual(mismatch?.wants, CertificationScript.call(for: .test11, clientID: clientID).messageObject)
        XCTAssertEqual(mismatch?.got["parameters"]?["last_more_replies"], ["Reply number 1"])
        XCTAssertThrowsError(try connection.scripted(.end, clientID: clientID))  // the run is over
    }

    func testRunsExpireAfterTheirLifetime() throws {
        let clock = ManualClock()
        let server = try TestServer { CertificationService(clock: { clock.now }) }
        defer { server.stop() }
        let connection = try server.connect()
        let clientID = try connection.runScript(upTo: .test01)
        clock.advance(by: CertificationService.runLifetime - .seconds(1))
        try connection.scripted(.test01, clientID: clientID)
        clock.advance(by: .seconds(1))
        XCTAssertThrowsError(try connection.scripted(.test02, clientID: clientID)) { error in
            XCTAssertEqual(error as? VarlinkClientError, .remote(CertificationMismatch.clientIDError))
        }
    }

    func testStartingMoreThanTheLimitForgetsTheOldestRun() throws {
        XCTAssertEqual(CertificationService.defaultMaximumRuns, 1024)
        let limit = 3
        let server = try TestServer { CertificationService(maximumRuns: limit) }
        defer { server.stop() }
        let connection = try server.connect()
        var ids: [String] = []
        for _ in 0...limit {
            ids.append(try connection.scripted(.start, clientID: "")["client_id"]?.stringValue ?? "")
        }
        XCTAssertEqual(Set(ids).count, ids.count)
        XCTAssertThrowsError(try connection.scripted(.test01, clientID: ids[0])) { error in
            XCTAssertEqual(error as? VarlinkClientError, .remote(CertificationMismatch.clientIDError))
        }
        for id in ids.dropFirst() {
            XCTAssertEqual(try connection.scripted(.test01, clientID: id), ["bool": true])
        }
        // Ended runs free their place: after End, a new Start forgets nobody.
        let ended = try connection.runScript(upTo: .test01)  // forgets ids[1]
        for step in CertificationStep.allCases.dropFirst() {
            XCTAssertEqual(try connection.perform(CertificationScript.call(for: step, clientID: ended)).last?.error, nil)
        }
        let fresh = try connection.scripted(.start, clientID: "")["client_id"]?.stringValue ?? ""
        XCTAssertEqual(try connection.scripted(.test02, clientID: ids[2]), ["int": 1])
        XCTAssertEqual(try connection.scripted(.test01, clientID: fresh), ["bool": true])
    }
}

// MARK: - Our client catching a wrong server

final class ClientSideCertificationTests: XCTestCase {
    private func run(against handler: @escaping @Sendable () -> BrokenCertificationServer, timeout: Duration = .seconds(10))
        throws -> CertificationFailure?
    {
        let server = try TestServer { handler() }
        defer { server.stop() }
        do {
            _ = try CertificationClient(path: server.path, replyTimeout: timeout).run()
            XCTFail("certification passed against a broken server")
            return nil
        } catch {
            return error
        }
    }

    func testWrongBoolFromTest01IsCaught() throws {
        let failure = try run(against: { BrokenCertificationServer(at: .test01, .reply(["bool": false])) })
        XCTAssertEqual(failure, .wrongReply(step: .test01, CertificationMismatch(wants: ["bool": true], got: ["bool": false])))
    }

    func testWrongMyTypeFromTest09IsCaught() throws {
        var mytype = CertificationScript.myType.objectValue ?? [:]
        mytype["enum"] = "three"
        let wrong = JSONValue.object(["mytype": .object(mytype)])
        let failure = try run(against: { BrokenCertificationServer(at: .test09, .reply(wrong)) })
        XCTAssertEqual(
            failure, .wrongReply(step: .test09, CertificationMismatch(wants: ["mytype": CertificationScript.myType], got: wrong)))
    }

    func testReplyOfTheWrongTypeIsCaught() throws {
        let failure = try run(against: { BrokenCertificationServer(at: .test03, .reply(["float": "1.0"])) })
        guard case .malformedReply(step: .test03, let reason)? = failure else {
            return XCTFail("expected malformedReply at Test03, got \(String(describing: failure))")
        }
        XCTAssertTrue(reason.contains("float"), reason)
    }

    func testShortStreamFromTest10IsCaught() throws {
        let failure = try run(against: { BrokenCertificationServer(at: .test10, .streamOnly(3)) })
        XCTAssertEqual(failure, .malformedReply(step: .test10, reason: "3 replies, 10 expected"))
    }

    func testEndWithoutAllOKIsCaught() throws {
        let failure = try run(against: { BrokenCertificationServer(at: .end, .reply(["all_ok": false])) })
        XCTAssertEqual(failure, .wrongReply(step: .end, CertificationMismatch(wants: ["all_ok": true], got: ["all_ok": false])))
    }

    func testCertificationErrorFromTheServerIsReportedWithWantsAndGot() throws {
        let refusal = CertificationMismatch(wants: ["method": "org.varlink.certification.Test04"], got: ["method": "x"])
        let failure = try run(against: { BrokenCertificationServer(at: .test05, .fail(refusal.varlinkError)) })
        XCTAssertEqual(failure, .rejected(step: .test05, refusal))
    }

    func testUndeclaredReplyFieldsAreIgnoredAsTheReferenceClientDoes() throws {
        // The reference server's Test09 reply carries a stray client_id; it must not fail the run.
        let reply = JSONValue.object(["mytype": CertificationScript.myType, "client_id": "stray"])
        let server = try TestServer { BrokenCertificationServer(at: .test09, .reply(reply)) }
        defer { server.stop() }
        XCTAssertNoThrow(try CertificationClient(path: server.path).run())
    }

    func testSilentServerTimesOutInsteadOfHanging() throws {
        let failure = try run(against: { BrokenCertificationServer(at: .test02, .silent) }, timeout: .milliseconds(200))
        XCTAssertEqual(failure, .transport(step: .test02, .timedOut))
    }

    func testUnreachableServerIsATransportFailureAtStart() throws {
        let missing = NSTemporaryDirectory() + "culvert-cert-missing-" + WallClock.randomIdentifier() + ".sock"
        XCTAssertThrowsError(try CertificationClient(path: missing).run()) { error in
            guard case .transport(step: .start, .system)? = error as? CertificationFailure else {
                return XCTFail("expected a transport failure at Start, got \(error)")
            }
        }
    }
}

// MARK: - Comparison

final class EquivalenceCertificationTests: XCTestCase {
    func testNullMembersEqualAbsentOnesAndNumbersCompareByValue() {
        func same(_ a: JSONValue, _ b: JSONValue) -> Bool { a.isVarlinkEquivalent(to: b) && b.isVarlinkEquivalent(to: a) }
        XCTAssertTrue(same(["a": 1, "b": nil], ["a": 1.0]))
        XCTAssertTrue(same([nil, 1], [nil, 1]))
        XCTAssertFalse(same([nil, 1], [1]))  // array elements are not members: a null one counts
        XCTAssertFalse(same(["a": 1], ["a": 1.5]))
        XCTAssertFalse(same(["a": true], ["a": 1]))
        XCTAssertFalse(same(.int(Int64.max), .double(0x1p63)))
        XCTAssertFalse(same(["one", "two"], ["two", "one"]))
    }
}
