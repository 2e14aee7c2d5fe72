// The data path keeps nothing per packet: 10,000 packets sealed by one device and opened by the
// other in the caller's buffers leave the heap in use where it was (glibc's count, as in
// CulvertSystemTests), and the buffers are never reallocated.
import CulvertSystem
import WireGuardDevice
import XCTest

final class DeviceAllocationTests: XCTestCase {
    private let packets = 10_000
    private let slackBytes = 16 << 10

    func testTenThousandPacketsLeaveTheHeapFlat() {
        var network = SimulatedNetwork.mesh(2, timers: .standard)
        network.sendPacket(from: 0, toHost: 2)
        network.run()
        let packet = TestPackets.ipv4(source: SimulatedNetwork.inner(1), destination: SimulatedNetwork.inner(2), payloadCount: 1380)
        var buffer = [UInt8](repeating: 0, count: 2048)
        var delivered = 0
        var failures = 0
        var sender = network.devices[0]
        var receiver = network.devices[1]
        network.devices = []  // the devices above are the only copies: mutations stay in place
        var generator = SeededGenerator(state: 3)
        let from = SimulatedNetwork.endpoint(1)
        func round(_ raw: UnsafeMutableRawBufferPointer, _ now: Duration) {
            packet.withUnsafeBytes {
                raw.baseAddress!.advanced(by: WireGuardDevice.headroom).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
            }  // both non-empty
            let sent = sender.send(packet: raw, packetCount: packet.count, now: now, using: &generator)
            guard let count = sent.messageCount else { return failures += 1 }
            let received = receiver.receive(datagram: raw, count: count, from: from, now: now, using: &generator)
            if received.packet?.count == packet.count { delivered += 1 } else { failures += 1 }
        }
        let address = buffer.withUnsafeBytes { $0.baseAddress }
        var heapBefore = 0
        buffer.withUnsafeMutableBytes { raw in
            for index in 0..<100 { round(raw, .milliseconds(index)) }  // warm up: first-use allocations
            heapBefore = MemoryPolicy.heapBytesInUse
            for index in 0..<packets { round(raw, .milliseconds(100 + index / 1000)) }
        }
        let heapAfter = MemoryPolicy.heapBytesInUse
        XCTAssertEqual(failures, 0)
        XCTAssertEqual(delivered, packets + 100)
        XCTAssertEqual(buffer.withUnsafeBytes { $0.baseAddress }, address)
        XCTAssertLessThanOrEqual(heapAfter - heapBefore, slackBytes, "heap grew by \(heapAfter - heapBefore) bytes")
        XCTAssertEqual(sender.drops.total + receiver.drops.total, 0)
    }
}
