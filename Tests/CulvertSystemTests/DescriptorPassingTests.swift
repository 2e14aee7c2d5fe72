import CulvertSystem
import Foundation
import XCTest

final class DescriptorPassingTests: XCTestCase {
    func testBytesAndDescriptorsArriveTogetherAndCloseOnExec() throws {
        let (a, b) = try DescriptorPassing.socketPair()
        defer {
            a.close()
            b.close()
        }
        var pipeFDs: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&pipeFDs), 0)
        let (readEnd, writeEnd) = (Descriptor(rawValue: pipeFDs[0]), Descriptor(rawValue: pipeFDs[1]))
        defer { writeEnd.close() }
        XCTAssertEqual(try a.send(Array("tun".utf8), passing: [readEnd]), 3)
        readEnd.close()  // the receiver holds its own copy now

        let message = try b.receive(maximumBytes: 64, maximumDescriptors: 4)
        XCTAssertEqual(message.bytes, Array("tun".utf8))
        XCTAssertEqual(message.descriptors.count, 1)
        let received = try XCTUnwrap(message.descriptors.first)
        defer { received.close() }
        XCTAssertEqual(fcntl(received.rawValue, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC)
        try writeEnd.writeAll(Array("through".utf8))
        var buffer: [UInt8] = []
        XCTAssertEqual(try received.read(appendingTo: &buffer, maximum: 64), 7)
        XCTAssertEqual(String(decoding: buffer, as: UTF8.self), "through")
    }

    func testTooManyDescriptorsIsAnErrorAndLeaksNothing() throws {
        let (a, b) = try DescriptorPassing.socketPair()
        defer {
            a.close()
            b.close()
        }
        let before = Identity.openDescriptorCount()
        let extra = try (0..<5).map { _ in try DescriptorPassing.socketPair() }
        _ = try a.send([1], passing: extra.map(\.0))
        extra.forEach {
            $0.0.close()
            $0.1.close()
        }
        XCTAssertThrowsError(try b.receive(maximumBytes: 8, maximumDescriptors: 2)) { error in
            XCTAssertEqual((error as? SystemError)?.errno, 90)
        }
        XCTAssertEqual(Identity.openDescriptorCount(), before, "received descriptors must be closed on refusal")
    }

    func testSendRefusesEmptyDataAndTooManyDescriptors() throws {
        let (a, b) = try DescriptorPassing.socketPair()
        defer {
            a.close()
            b.close()
        }
        XCTAssertThrowsError(try a.send([], passing: [b]))
        XCTAssertThrowsError(try a.send([1], passing: Array(repeating: b, count: DescriptorPassing.maximumDescriptorsPerMessage + 1)))
    }

    func testEndOfStreamIsEmpty() throws {
        let (a, b) = try DescriptorPassing.socketPair()
        a.close()
        defer { b.close() }
        let message = try b.receive(maximumBytes: 8, maximumDescriptors: 1)
        XCTAssertEqual(message.bytes, [])
        XCTAssertEqual(message.descriptors.count, 0)
    }
}
