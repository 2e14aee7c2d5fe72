// PacketBatch's in-place access (appendInPlace, withUnsafeMutablePacket, withUnsafePacket), which a
// data plane uses to seal or decrypt straight into a batch's slots instead of copying through a
// scratch buffer: fills land in the next slot only when committed, lengths stay inside the slot,
// a full batch refuses, and a fill's error comes back typed with the batch unchanged.

import CulvertSystem
import XCTest

final class PacketBatchInPlaceTests: XCTestCase {
    private struct FillFailed: Error, Equatable {}

    func testAppendInPlaceFillsTheNextSlotOnlyWhenCommitted() throws {
        var batch = PacketBatch(capacity: 2, slotSize: 8)
        let skipped = try batch.appendInPlace { (slot: UnsafeMutableRawBufferPointer) throws(FillFailed) -> Int? in
            XCTAssertEqual(slot.count, 8, "the whole slot")
            slot.storeBytes(of: 0xff, toByteOffset: 0, as: UInt8.self)
            return nil
        }
        XCTAssertFalse(skipped)
        XCTAssertEqual(batch.count, 0, "nil appends nothing")

        XCTAssertTrue(
            try batch.appendInPlace { (slot: UnsafeMutableRawBufferPointer) throws(FillFailed) -> Int? in
                for index in 0..<3 { slot[index] = UInt8(index + 1) }
                return 3
            })
        XCTAssertEqual(Array(batch[0]), [1, 2, 3])

        do {
            _ = try batch.appendInPlace { (_: UnsafeMutableRawBufferPointer) throws(FillFailed) -> Int? in throw FillFailed() }
            XCTFail("the fill's error must come back")
        } catch {
            guard case .fill(let failure) = error else { return XCTFail("expected .fill, got \(error)") }
            XCTAssertEqual(failure, FillFailed())
        }
        XCTAssertEqual(batch.count, 1, "a failed fill appends nothing")

        XCTAssertTrue(
            try batch.appendInPlace { (slot: UnsafeMutableRawBufferPointer) throws(FillFailed) -> Int? in
                slot.copyBytes(from: [9, 9, 9, 9, 9, 9, 9, 9])
                return 8
            })
        XCTAssertEqual(Array(batch[1]), [9, 9, 9, 9, 9, 9, 9, 9])
        XCTAssertEqual(Array(batch[0]), [1, 2, 3], "the first slot untouched")
        do {
            _ = try batch.appendInPlace { (_: UnsafeMutableRawBufferPointer) throws(FillFailed) -> Int? in 1 }
            XCTFail("a full batch must refuse")
        } catch {
            guard case .batch(.full(let capacity)) = error else { return XCTFail("expected .batch(.full), got \(error)") }
            XCTAssertEqual(capacity, 2)
        }
    }

    func testMutablePacketAccessWorksInPlaceAndSetsTheLength() throws {
        var batch = PacketBatch(capacity: 2, slotSize: 16)
        try batch.append([0, 0, 0, 0, 10, 20, 30])
        try batch.append([7, 7])
        batch.withUnsafeMutablePacket(at: 0) { slot, length in
            XCTAssertEqual(slot.count, 16)
            XCTAssertEqual(length, 7)
            // Drop a 4-byte header: move the payload to the front and shorten the packet.
            slot.copyMemory(from: UnsafeRawBufferPointer(rebasing: slot[4..<7]))
            length = 3
        }
        XCTAssertEqual(Array(batch[0]), [10, 20, 30])
        XCTAssertEqual(Array(batch[1]), [7, 7], "the next packet untouched")
        let sum = batch.withUnsafePacket(at: 1) { bytes in bytes.reduce(0) { $0 + Int($1) } }
        XCTAssertEqual(sum, 14)
        XCTAssertEqual(batch.withUnsafePacket(at: 0) { $0.count }, 3, "read access sees the new length")
    }
}
