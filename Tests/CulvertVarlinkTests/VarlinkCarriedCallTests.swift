// VarlinkCarriedCallTests: a `more` call its handler marks carriable survives a hand-over between
// two servers in one process — the re-exec path without the exec. Calls not marked keep a
// connection from being carried, and a handover that names no method closes its connection.

import CulvertSystem
import Dispatch
import Foundation
import XCTest

@testable import CulvertVarlink

private let carryInterfaceText = """
    interface org.example.carry

    method Subscribe() -> (n: int)
    method Hold() -> (n: int)
    """

/// Opens every call with one `continues` reply; only Subscribe is marked carriable.
private final class CarryHandler: VarlinkHandler, @unchecked Sendable {  // used on its server's queue, read after a queue.sync
    var interfaceDescription: String { carryInterfaceText }
    private(set) var resumed: [String] = []
    private var open: [VarlinkReplier] = []

    func handle(_ call: VarlinkCall, replier: VarlinkReplier) {
        replier.reply(["n": 0], continues: true)
        if call.message.member == "Subscribe" { replier.markCarriable() }
        open.append(replier)
    }

    func resume(_ call: VarlinkCarriedCall, replier: VarlinkReplier) {
        resumed.append(call.message.method)
        replier.reply(["n": 1], continues: true)
        open.append(replier)
    }
}

final class VarlinkCarriedCallTests: XCTestCase {
    private let info = VarlinkServiceInfo(vendor: "test", product: "test", version: "0", url: "")
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "carry-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)  // try?: a leftover temporary directory is harmless
    }

    private func waitForConnections(_ count: Int, on server: VarlinkServer) {
        let deadline = Date().addingTimeInterval(10)
        while server.queue.sync(execute: { server.connectionCount }) != count, Date() < deadline { usleep(2_000) }
        XCTAssertEqual(server.queue.sync { server.connectionCount }, count)
    }

    func testAMarkedCallIsCarriedToTheNextServerAndItsHandlerResumesIt() throws {
        let path = directory + "/socket"
        let listener = try UnixSocket.listen(path: path)
        defer { listener.close() }
        let old = VarlinkServer(info: info, queue: DispatchQueue(label: "carry-old"))
        let oldHandler = CarryHandler()
        try old.queue.sync {
            try old.register(oldHandler)
            try old.start(listener: listener)
        }

        let subscriber = try VarlinkClientConnection(path: path)
        try subscriber.send(VarlinkCallMessage(method: "org.example.carry.Subscribe", more: true))
        XCTAssertEqual(try subscriber.receive(timeoutMilliseconds: 10_000).parameters["n"], .int(0))
        XCTAssertTrue(old.queue.sync { old.connectionsAreCarriable(except: 0) })

        // A `more` call its handler did not mark holds the hand-over back while it is open.
        let holder = try VarlinkClientConnection(path: path)
        try holder.send(VarlinkCallMessage(method: "org.example.carry.Hold", more: true))
        XCTAssertEqual(try holder.receive(timeoutMilliseconds: 10_000).parameters["n"], .int(0))
        XCTAssertFalse(old.queue.sync { old.connectionsAreCarriable(except: 0) })
        holder.close()
        waitForConnections(1, on: old)
        XCTAssertTrue(old.queue.sync { old.connectionsAreCarriable(except: 0) })

        let handovers = old.queue.sync { old.handOverConnections(deadline: .now + .seconds(5)) }
        XCTAssertEqual(handovers.map(\.carriedMethod), ["org.example.carry.Subscribe"])
        XCTAssertEqual(handovers.map(\.carriesCall), [true])
        XCTAssertEqual(old.queue.sync { old.connectionCount }, 0)

        // Through the encoding a re-exec uses, which keeps the key older images read.
        let encoded = try JSONEncoder().encode(handovers)
        XCTAssertTrue(String(decoding: encoded, as: UTF8.self).contains(#""watching":true"#))
        let carried = try JSONDecoder().decode([VarlinkConnectionHandover].self, from: encoded)

        let new = VarlinkServer(info: info, queue: DispatchQueue(label: "carry-new"))
        let newHandler = CarryHandler()
        try new.queue.sync { try new.register(newHandler) }
        new.queue.sync { for handover in carried { new.adopt(handover) } }
        XCTAssertEqual(new.queue.sync { newHandler.resumed }, ["org.example.carry.Subscribe"])
        let resumedReply = try subscriber.receive(timeoutMilliseconds: 10_000)
        XCTAssertEqual(resumedReply.parameters["n"], .int(1))
        XCTAssertTrue(resumedReply.continues)
        XCTAssertTrue(new.queue.sync { new.connectionsAreCarriable(except: 0) }, "a resumed call stays carriable")
        new.queue.sync { new.stop() }
    }

    func testAHandoverThatNamesNoMethodClosesItsConnection() throws {
        let (near, far) = try DescriptorPassing.socketPair()
        defer { far.close() }
        // What an image from before `carriedMethod` wrote for a connection with an open call.
        let legacy = #"{"descriptor":\#(near.rawValue),"pid":1,"uid":0,"gid":0,"groups":[],"input":[],"watching":true}"#
        let handover = try JSONDecoder().decode(VarlinkConnectionHandover.self, from: Data(legacy.utf8))
        XCTAssertTrue(handover.carriesCall)
        XCTAssertNil(handover.carriedMethod)
        let server = VarlinkServer(info: info, queue: DispatchQueue(label: "carry-legacy"))
        _ = server.queue.sync { server.adopt(handover) }
        XCTAssertTrue(try far.waitReadable(timeoutMilliseconds: 10_000))
        var bytes: [UInt8] = []
        XCTAssertEqual(try far.read(appendingTo: &bytes, maximum: 64), 0, "the connection is closed, so its client reconnects")
        XCTAssertEqual(server.queue.sync { server.connectionCount }, 0)
    }
}
