// VarlinkStreamTests: the connection core on a real socketpair — framing, the output bound,
// closing once, closing after sending, and letting go of the socket for a re-exec. The far end is
// a raw socket driven from the test thread; the stream runs on its own queue. Every wait is bounded.

import CulvertSystem
import Dispatch
import Foundation
import XCTest

@testable import CulvertVarlink

private let timeout: TimeInterval = 20

/// State shared by the test thread and the stream's queue.
private final class Recorder: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var frames: [String] = []
    private var frameDescriptors: [Int] = []
    private var closes: [VarlinkCloseReason] = []
    private var ends = 0

    func record(_ frame: VarlinkFrame) {
        lock.withLock {
            frames.append(String(decoding: frame.bytes, as: UTF8.self))
            frameDescriptors.append(frame.descriptors.count)
        }
        frame.descriptors.forEach { $0.close() }
    }
    func recordClose(_ reason: VarlinkCloseReason) { lock.withLock { closes.append(reason) } }
    func recordEnd() { lock.withLock { ends += 1 } }

    var receivedFrames: [String] { lock.withLock { frames } }
    var descriptorCounts: [Int] { lock.withLock { frameDescriptors } }
    var closeReasons: [VarlinkCloseReason] { lock.withLock { closes } }
    var endCount: Int { lock.withLock { ends } }
}

/// One stream and the raw socket at the other end.
private struct Harness {
    let stream: VarlinkStream
    let far: Descriptor
    let queue = DispatchQueue(label: "stream-test")
    let recorder = Recorder()

    init(transport: VarlinkStream.Transport = .bytes, maximumMessageSize: Int = 1024, maximumQueuedOutput: Int = 1 << 20) throws {
        let (near, far) = try DescriptorPassing.socketPair()
        self.far = far
        stream = VarlinkStream(
            descriptor: near, transport: transport, maximumMessageSize: maximumMessageSize, maximumQueuedOutput: maximumQueuedOutput,
            queue: queue)
    }

    /// Starts the stream with an owner that takes every frame and closes at the end of input.
    func start(takingFrames: Bool = true) {
        let (stream, recorder) = (self.stream, self.recorder)
        queue.sync {
            stream.onInput = {
                guard takingFrames else { return }
                do throws(VarlinkCloseReason) {
                    while let frame = try stream.nextFrame() { recorder.record(frame) }
                } catch {
                    stream.close(because: error)
                }
            }
            stream.onEndOfInput = {
                recorder.recordEnd()
                stream.close(because: .peerClosed)
            }
            stream.onClose = { recorder.recordClose($0) }
            stream.start()
        }
    }

    func onQueue<R>(_ body: (VarlinkStream) -> R) -> R { queue.sync { body(stream) } }

    /// Waits (bounded) until `condition` holds, checking it on the stream's queue.
    func wait(_ what: String, until condition: @escaping (VarlinkStream, Recorder) -> Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        while !queue.sync(execute: { condition(stream, recorder) }), Date() < deadline { usleep(2_000) }
        XCTAssertTrue(queue.sync { condition(stream, recorder) }, "timed out waiting for \(what)")
    }

    /// Everything the far end reads until end of file, waiting at most `timeout` for each read.
    func readToEnd() throws -> [UInt8] {
        var bytes: [UInt8] = []
        while true {
            guard try far.waitReadable(timeoutMilliseconds: Int32(timeout * 1000)) else {
                XCTFail("no end of file in time")
                break
            }
            if try far.read(appendingTo: &bytes, maximum: 1 << 16) == 0 { break }
        }
        return bytes
    }
}

private func frame(_ text: String) -> [UInt8] { Array(text.utf8) + [0] }

final class VarlinkStreamTests: XCTestCase {
    // MARK: framing

    func testFramesAreCutAtNulsWhateverTheReadBoundaries() throws {
        let harness = try Harness()
        harness.start()
        try harness.far.sendAll(Array("{\"a\":1}\0{\"b\"".utf8))
        harness.wait("the first frame") { _, recorder in recorder.receivedFrames.count == 1 }
        try harness.far.sendAll(Array(":2}\0{}\0".utf8))
        harness.wait("three frames") { _, recorder in recorder.receivedFrames.count == 3 }
        XCTAssertEqual(harness.recorder.receivedFrames, [#"{"a":1}"#, #"{"b":2}"#, "{}"])
        XCTAssertEqual(harness.onQueue { $0.bufferedInput }, 0)
        harness.far.close()
        harness.wait("the close") { _, recorder in recorder.closeReasons == [.peerClosed] }
        XCTAssertEqual(harness.recorder.endCount, 1)
    }

    func testFramesTheOwnerLeavesStayBufferedInOrder() throws {
        let harness = try Harness()
        harness.start(takingFrames: false)
        try harness.far.sendAll(frame("one") + frame("two") + Array("thr".utf8))
        harness.wait("the bytes") { stream, _ in stream.bufferedInput == 11 }
        let taken = harness.onQueue { stream in
            // try?: a failure shows as nil and fails the comparison below.
            (0..<3).map { _ in (try? stream.nextFrame())?.map { String(decoding: $0.bytes, as: UTF8.self) } }
        }
        XCTAssertEqual(taken, ["one", "two", nil])
        XCTAssertEqual(harness.onQueue { $0.bufferedInput }, 3)
        harness.onQueue { $0.close(because: .closedLocally) }
        harness.far.close()
    }

    func testAMessageOverTheLimitIsRefusedBeforeItsEndArrives() throws {
        let harness = try Harness(maximumMessageSize: 64)
        harness.start()
        try harness.far.sendAll(frame(String(repeating: "x", count: 63)))  // 64 with its NUL: fits
        harness.wait("the largest frame") { _, recorder in recorder.receivedFrames.count == 1 }
        try harness.far.sendAll(Array(String(repeating: "y", count: 64).utf8))  // no NUL yet, already too long
        harness.wait("the close") { _, recorder in recorder.closeReasons == [.tooLarge] }
        XCTAssertEqual(try harness.readToEnd(), [], "the socket is closed")
        harness.far.close()
    }

    func testDescriptorsArriveWithTheFrameTheyWereSentWith() throws {
        let harness = try Harness(transport: .bytesAndDescriptors(maximumPerRead: 4))
        harness.start()
        let (x, y) = try DescriptorPassing.socketPair()
        try harness.far.sendAll(frame("plain"))
        _ = try harness.far.send(frame("with"), passing: [x, y])
        x.close()
        y.close()
        harness.wait("two frames") { _, recorder in recorder.receivedFrames.count == 2 }
        XCTAssertEqual(harness.recorder.receivedFrames, ["plain", "with"])
        XCTAssertEqual(harness.recorder.descriptorCounts, [0, 2])
        harness.far.close()
        harness.wait("the close") { _, recorder in recorder.closeReasons == [.peerClosed] }
    }

    // MARK: output

    func testOutputPastTheBoundIsRefusedAndTheQueueDrainsWhenTheOtherEndReads() throws {
        let harness = try Harness(maximumQueuedOutput: 8 << 10)
        harness.start()
        let chunk = frame(String(repeating: "z", count: 4095))
        // Fill the socket until frames queue, then until the bound refuses one.
        var accepted = 0
        var refusedAt: Int?
        for _ in 0..<10_000 {
            let (ok, queuedBefore, queuedAfter) = harness.onQueue { stream in
                let before = stream.queuedOutput
                let ok = stream.send(chunk)
                return (ok, before, stream.queuedOutput)
            }
            if !ok {
                XCTAssertEqual(queuedAfter, queuedBefore, "a refused frame queues nothing")
                refusedAt = queuedBefore
                break
            }
            accepted += 1
        }
        let queued = try XCTUnwrap(refusedAt, "the bound never refused a frame")
        XCTAssertGreaterThan(accepted, 2, "frames went to the socket before any queued")
        XCTAssertGreaterThan(queued, 0)
        XCTAssertLessThanOrEqual(queued, 8 << 10)
        XCTAssertTrue(harness.onQueue { $0.isOpen }, "refusing is the owner's business, not a close")
        // The far end reads everything the stream accepted; the write source sends the rest.
        var received = 0
        var scratch: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while received < accepted * chunk.count, Date() < deadline {
            guard try harness.far.waitReadable(timeoutMilliseconds: 1000) else { continue }
            scratch.removeAll(keepingCapacity: true)
            received += try harness.far.read(appendingTo: &scratch, maximum: 1 << 16)
        }
        XCTAssertEqual(received, accepted * chunk.count)
        harness.wait("an empty queue") { stream, _ in stream.queuedOutput == 0 }
        harness.onQueue { $0.close(because: .closedLocally) }
        harness.far.close()
    }

    func testOneFrameAlwaysFitsAnEmptyQueue() throws {
        let harness = try Harness(maximumQueuedOutput: 16)
        harness.start()
        XCTAssertTrue(harness.onQueue { $0.send(frame(String(repeating: "w", count: 1000))) })
        harness.onQueue { $0.close(because: .closedLocally) }
        XCTAssertEqual(try harness.readToEnd().count, 1001)
        harness.far.close()
    }

    func testDroppingUnsentFramesKeepsTheHeadFrameWhole() throws {
        var output = VarlinkStreamOutput()
        output.append(frame("head"), passing: [])
        output.append(frame("second"), passing: [])
        let (x, y) = try DescriptorPassing.socketPair()
        output.append(frame("third"), passing: [x])
        output.dropUnsentFrames()
        XCTAssertEqual(output.queuedBytes, 5)
        let (near, far) = try DescriptorPassing.socketPair()
        XCTAssertTrue(try output.write(to: near))
        near.close()
        var bytes: [UInt8] = []
        while try far.read(appendingTo: &bytes, maximum: 64) > 0 {}
        XCTAssertEqual(bytes, frame("head"))
        far.close()
        y.close()
    }

    // MARK: closing

    func testCloseRunsOnCloseOnceWithTheFirstReason() throws {
        let harness = try Harness()
        harness.start()
        harness.onQueue { stream in
            stream.close(because: .outputOverflow)
            stream.close(because: .closedLocally)
            stream.closeAfterSending(frame("late"), because: .peerClosed)
            XCTAssertTrue(stream.send(frame("later")), "a closed stream drops frames quietly")
        }
        XCTAssertEqual(harness.recorder.closeReasons, [.outputOverflow])
        XCTAssertEqual(harness.onQueue { $0.closeReason }, .outputOverflow)
        XCTAssertEqual(try harness.readToEnd(), [], "nothing is sent after the close")
        harness.far.close()
    }

    func testAStreamNeverStartedClosesItsDescriptor() throws {
        let harness = try Harness()
        harness.onQueue { stream in
            stream.onClose = { harness.recorder.recordClose($0) }
            _ = stream.send(frame("queued before start"))
            stream.close(because: .closedLocally)
        }
        XCTAssertEqual(harness.recorder.closeReasons, [.closedLocally])
        XCTAssertEqual(try harness.readToEnd(), [])
        harness.far.close()
    }

    func testCloseAfterSendingDeliversEverythingThenCloses() throws {
        let harness = try Harness()
        harness.start()
        harness.onQueue { stream in
            _ = stream.send(frame("reply"))
            stream.closeAfterSending(frame("error"), because: .protocolError("test"))
            XCTAssertFalse(stream.isOpen)
        }
        XCTAssertEqual(try harness.readToEnd(), frame("reply") + frame("error"))
        harness.wait("the close") { _, recorder in recorder.closeReasons == [.protocolError("test")] }
        harness.far.close()
    }

    func testDetachLetsGoOfTheSocketAndReturnsUnprocessedInput() throws {
        let harness = try Harness()
        harness.start(takingFrames: false)
        try harness.far.sendAll(frame("pipelined") + frame("calls"))
        harness.wait("the bytes") { stream, _ in stream.bufferedInput == 16 }
        let (flushed, carried) = harness.onQueue { stream in
            _ = stream.send(frame("last reply"))
            let flushed = stream.flushBlocking(until: .now + .seconds(5))
            return (flushed, stream.detach())
        }
        XCTAssertTrue(flushed)
        XCTAssertEqual(carried, frame("pipelined") + frame("calls"))
        XCTAssertEqual(harness.recorder.closeReasons, [.closedLocally])
        // The descriptor outlives the stream: the next owner (here, the test) still talks on it.
        let adopted = harness.stream.descriptor
        try adopted.setNonblocking(false)
        try adopted.sendAll(frame("still here"))
        var bytes: [UInt8] = []
        while bytes.count < frame("last reply").count + frame("still here").count {
            guard try harness.far.waitReadable(timeoutMilliseconds: Int32(timeout * 1000)) else { break }
            _ = try harness.far.read(appendingTo: &bytes, maximum: 64)
        }
        XCTAssertEqual(bytes, frame("last reply") + frame("still here"))
        adopted.close()
        harness.far.close()
    }
}
