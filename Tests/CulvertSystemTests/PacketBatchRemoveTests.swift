// PacketBatch.removePacket(at:): the later packets move one slot down with their bytes and lengths,
// in order, for the first, a middle and the last packet; the freed slot is reused by the next append.

import CulvertSystem
import XCTest

final class PacketBatchRemoveTests: XCTestCase {
    private func batch(_ packets: [[UInt8]]) throws -> PacketBatch {
        var batch = PacketBatch(capacity: 8, slotSize: 16)
        for packet in packets { try batch.append(packet) }
        return batch
    }

    func testRemovingKeepsTheOthersInOrder() throws {
        let packets: [[UInt8]] = [[1], [2, 2], [3, 3, 3], [4, 4, 4, 4], Array(repeating: 5, count: 16)]
        for index in packets.indices {
            var removed = try batch(packets)
            removed.removePacket(at: index)
            var expected = packets
            expected.remove(at: index)
            XCTAssertEqual(removed.map { Array($0) }, expected, "removing packet \(index)")
        }
        var all = try batch(packets)
        for _ in packets.indices { all.removePacket(at: 0) }
        XCTAssertTrue(all.isEmpty)
        try all.append([7, 7])
        XCTAssertEqual(all.map { Array($0) }, [[7, 7]], "the batch is reused after emptying")

        var last = try batch(packets)
        last.removePacket(at: packets.count - 1)
        try last.append([9])
        XCTAssertEqual(last.map { Array($0) }, Array(packets.dropLast()) + [[9]], "a freed slot is taken by the next append")
    }
}
