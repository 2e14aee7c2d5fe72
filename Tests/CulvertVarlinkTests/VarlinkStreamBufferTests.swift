// VarlinkStreamBufferTests: the stream's buffers handle large messages without work proportional
// to them at each step — the input buffer is sized once for a large message instead of doubling
// (each doubling copied the partial message), and the output queue sends a large frame partly,
// many times, without shifting it, and still delivers every byte in order.

import CulvertSystem
import XCTest

@testable import CulvertVarlink

final class VarlinkStreamBufferTests: XCTestCase {
    private let chunk = VarlinkLimits.readChunkSize

    func testALargeMessageIsBufferedWithoutRegrowingAndComesOutWhole() throws {
        let maximum = 4 << 20
        var input = VarlinkStreamInput(largeMessageCapacity: maximum + chunk)
        let (near, far) = try DescriptorPassing.socketPair()
        defer {
            near.close()
            far.close()
        }
        let message = (0..<(3 << 20)).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        var capacities: Set<Int> = []
        var offset = 0
        while offset < message.count {
            let piece = Array(message[offset..<min(offset + chunk, message.count)])
            let sent = offset + piece.count == message.count ? piece + [0] : piece
            try far.sendAll(sent)
            var read = 0
            while read < sent.count { read += try input.read(from: near, maximum: chunk) }
            offset += piece.count
            if input.bufferedBytes > VarlinkFrameDecoding.offQueueFrom + chunk { capacities.insert(input.capacity) }
        }
        XCTAssertEqual(capacities.count, 1, "the buffer grew after it was sized for a large message: \(capacities.sorted())")
        XCTAssertGreaterThanOrEqual(capacities.first ?? 0, maximum)
        let frame = try XCTUnwrap(try input.nextFrame(maximumSize: maximum))
        XCTAssertEqual(Array(frame.bytes), message)
        input.compact()
        XCTAssertEqual(input.bufferedBytes, 0)
    }

    func testALargeMessageOverTheLimitIsStillRefused() throws {
        let maximum = 256 << 10
        var input = VarlinkStreamInput(largeMessageCapacity: maximum + chunk)
        let (near, far) = try DescriptorPassing.socketPair()
        defer {
            near.close()
            far.close()
        }
        var refused = false
        for _ in 0..<8 where !refused {
            try far.sendAll([UInt8](repeating: 0x62, count: chunk))
            var read = 0
            while read < chunk { read += try input.read(from: near, maximum: chunk) }
            do throws(VarlinkStreamInput.Failure) {
                _ = try input.nextFrame(maximumSize: maximum)
            } catch {
                XCTAssertEqual(error, .tooLarge)
                refused = true
            }
        }
        XCTAssertTrue(refused)
    }

    func testMixedLargeAndSmallFramesArriveByteForByteThroughPartialSends() throws {
        var output = VarlinkStreamOutput()
        let (near, far) = try DescriptorPassing.socketPair()
        defer {
            near.close()
            far.close()
        }
        try near.setNonblocking(true)
        var expected: [UInt8] = []
        for (index, size) in [10, 3 << 20, 20, 30, 1 << 20, 40, 700 << 10].enumerated() {
            let frame = (0..<size).map { UInt8(ascii: "A") + UInt8(($0 + index) % 26) } + [0]
            output.append(frame, passing: [])
            expected += frame
        }
        XCTAssertEqual(output.queuedBytes, expected.count)
        var received: [UInt8] = []
        while try !output.write(to: near) {
            XCTAssertLessThanOrEqual(output.queuedBytes + received.count, expected.count)
            _ = try far.read(appendingTo: &received, maximum: 200 << 10)
        }
        XCTAssertEqual(output.queuedBytes, 0)
        while received.count < expected.count { _ = try far.read(appendingTo: &received, maximum: 200 << 10) }
        XCTAssertEqual(received, expected)
    }

    func testDroppingUnsentFramesDuringALargeFrameKeepsItWhole() throws {
        var output = VarlinkStreamOutput()
        let (near, far) = try DescriptorPassing.socketPair()
        defer {
            near.close()
            far.close()
        }
        try near.setNonblocking(true)
        let large = [UInt8](repeating: 0x63, count: 2 << 20) + [0]
        output.append(large, passing: [])
        output.append(Array("small".utf8) + [0], passing: [])
        var received: [UInt8] = []
        // Past the old trim point (256 KiB) before dropping: the head frame is partly sent.
        while received.count < 600 << 10 {
            XCTAssertFalse(try output.write(to: near))
            _ = try far.read(appendingTo: &received, maximum: 100 << 10)
        }
        output.dropUnsentFrames()
        while try !output.write(to: near) { _ = try far.read(appendingTo: &received, maximum: 200 << 10) }
        while received.count < large.count { _ = try far.read(appendingTo: &received, maximum: 200 << 10) }
        XCTAssertEqual(received, large)
    }
}
