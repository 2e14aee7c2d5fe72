// DatagramOffloadTests: UDP_SEGMENT sends and UDP_GRO receives (DatagramOffload) against the kernel
// (root; a veth pair between two private network namespaces, never the host's): batches sent as
// segmented messages arrive intact and in order as individual datagrams, the heap does not grow per
// datagram, EIO turns segmentation off for good with the batch still sent, and hostile coalesced
// messages (malformed UDP_GRO data, cut messages, oversized segments) are dropped and counted.

import Foundation
import XCTest

@testable import CulvertSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Datagrams per send, their size and the shorter last one of each batch (a run may end shorter).
private let datagramsPerBatch = PacketBatch.maximumPacketCount
private let datagramSize = 1_400
private let lastDatagramSize = 700
/// Batches before the heap is measured (first-use allocations), and after.
private let warmUpBatches = 10
private let measuredBatches = 160  // 10,240 datagrams
/// Heap growth tolerated over the measured batches: far below one allocation per datagram.
private let heapSlackBytes = 16_384
/// Longest wait for a batch to arrive.
private let arrivalTimeoutMilliseconds: Int32 = 5_000

/// The payload of datagram `sequence`: its number, then a pattern derived from it.
private func fillDatagram(_ bytes: inout [UInt8], sequence: Int, length: Int) {
    bytes.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(sequence).bigEndian, toByteOffset: 0, as: UInt64.self) }
    for index in 8..<length { bytes[index] = UInt8(truncatingIfNeeded: sequence &+ index &* 7) }
}

/// Whether `datagram` is datagram `sequence` of `length` bytes, intact.
private func isDatagram(_ datagram: ArraySlice<UInt8>, sequence: Int, length: Int) -> Bool {
    guard datagram.count == length else { return false }
    let base = datagram.startIndex
    var number: UInt64 = 0
    for index in 0..<8 { number = number << 8 | UInt64(datagram[base + index]) }
    guard number == UInt64(sequence) else { return false }
    for index in 8..<length where datagram[base + index] != UInt8(truncatingIfNeeded: sequence &+ index &* 7) { return false }
    return true
}

final class DatagramOffloadTests: XCTestCase {
    func testSegmentedBatchesArriveAsIndividualDatagramsInOrderWithoutHeapGrowth() {
        withPrivateNetworkNamespace { here in
            let there = try SecondNamespace()
            defer { there.close() }
            try here.run("ip link add culvgsoA type veth peer name culvgsoB")
            try here.run("ip link set culvgsoB netns \(there.threadID)")
            try here.run("ip addr add 10.98.0.1/24 dev culvgsoA")
            try here.run("ip link set culvgsoA up")
            let remote = PrivateNamespace(path: there.path)
            try remote.run("ip addr add 10.98.0.2/24 dev culvgsoB")
            try remote.run("ip link set culvgsoB up")
            let receiverSocket = try there.perform {
                let socket = try DatagramSocket.open(.ipv4, nonblocking: true)
                try socket.bind(to: IPEndpoint("10.98.0.2:7100"))
                return socket
            }
            defer { receiverSocket.close() }
            let senderSocket = try DatagramSocket.open(.ipv4)
            defer { senderSocket.close() }
            try senderSocket.bind(to: IPEndpoint("10.98.0.1:0"))
            try senderSocket.connect(to: IPEndpoint("10.98.0.2:7100"))
            var sender = DatagramOffload(socket: senderSocket, coalesceReceives: false)
            var receiver = DatagramOffload(socket: receiverSocket, segmentSends: false)
            try require(sender.sendsSegmented, "this kernel refused UDP_SEGMENT")
            try require(receiver.receivesCoalesced, "this kernel refused UDP_GRO")

            var outgoing = PacketBatch(capacity: datagramsPerBatch, slotSize: 2_048)
            var incoming = PacketBatch(capacity: datagramsPerBatch, slotSize: 2_048)
            var scratch = [UInt8](repeating: 0, count: datagramSize)
            var senders: [IPEndpoint] = []
            senders.reserveCapacity(datagramsPerBatch)
            var sequence = 0
            var expected = 0
            var heapBefore = 0
            for round in 0..<(warmUpBatches + measuredBatches) {
                if round == warmUpBatches { heapBefore = MemoryPolicy.heapBytesInUse }
                outgoing.removeAll()
                for slot in 0..<datagramsPerBatch {
                    let length = slot == datagramsPerBatch - 1 ? lastDatagramSize : datagramSize
                    fillDatagram(&scratch, sequence: sequence, length: length)
                    try outgoing.append(scratch[0..<length])
                    sequence += 1
                }
                var sent = 0
                while sent < outgoing.count { sent += try sender.send(outgoing, from: sent) }  // each call sends at least one or throws
                var arrived = 0
                while arrived < datagramsPerBatch {  // bounded by the wait below
                    try require(
                        try receiverSocket.descriptor.waitReadable(timeoutMilliseconds: arrivalTimeoutMilliseconds),
                        "datagram \(expected) did not arrive")
                    repeat {
                        incoming.removeAll()
                        senders.removeAll(keepingCapacity: true)
                        let n: Int
                        do throws(SystemError) { n = try receiver.receive(into: &incoming, senders: &senders) } catch {
                            if error.isWouldBlock { break }
                            throw error
                        }
                        for index in 0..<n {
                            let length = expected % datagramsPerBatch == datagramsPerBatch - 1 ? lastDatagramSize : datagramSize
                            try require(isDatagram(incoming[index], sequence: expected, length: length), "datagram \(expected) is wrong")
                            try require(senders[index].address.bytes == [10, 98, 0, 1], "sender \(senders[index])")
                            expected += 1
                        }
                        arrived += n
                    } while incoming.isFull
                }
            }
            let heapAfter = MemoryPolicy.heapBytesInUse
            try require(expected == sequence, "\(expected) of \(sequence) datagrams arrived")
            try require(sender.counters.segmentedSends > 0, "nothing was sent segmented: \(sender.counters)")
            try require(receiver.counters.coalescedReceives > 0, "nothing arrived coalesced: \(receiver.counters)")
            try require(receiver.counters.datagramsSplit > 0, "no coalesced message was split: \(receiver.counters)")
            let dropped = receiver.counters.truncatedMessages + receiver.counters.malformedControl + receiver.counters.oversizedDatagrams
            try require(dropped == 0, "drops: \(receiver.counters)")
            try require(
                heapAfter - heapBefore <= heapSlackBytes,
                "heap grew by \(heapAfter - heapBefore) bytes over \(measuredBatches * datagramsPerBatch) datagrams")
            print("UDP GSO/GRO: \(sender.counters), \(receiver.counters), heap \(heapBefore) → \(heapAfter)")
        }
    }

    func testEIOTurnsSegmentationOffForGoodAndTheBatchStillGoes() {
        withPrivateNetworkNamespace { here in
            try here.run("ip link set lo up")
            let receiverSocket = try DatagramSocket.open(.ipv4, nonblocking: true)
            defer { receiverSocket.close() }
            try receiverSocket.bind(to: IPEndpoint("127.0.0.1:7200"))
            let senderSocket = try DatagramSocket.open(.ipv4)
            defer { senderSocket.close() }
            try senderSocket.connect(to: IPEndpoint("127.0.0.1:7200"))
            var sender = DatagramOffload(socket: senderSocket, coalesceReceives: false)
            try require(sender.sendsSegmented, "this kernel refused UDP_SEGMENT")
            var batch = PacketBatch(capacity: 10, slotSize: 2_048)
            var scratch = [UInt8](repeating: 0, count: datagramSize)
            for sequence in 0..<10 {
                fillDatagram(&scratch, sequence: sequence, length: datagramSize)
                try batch.append(scratch)
            }
            sender.failNextSegmentedSendWithEIO = true
            try require(try sender.send(batch) == 10, "the batch was not sent after EIO")
            try require(!sender.sendsSegmented, "segmentation still on after EIO")
            try require(sender.counters.segmentationFallbacks == 1, "fallbacks: \(sender.counters)")
            try require(try sender.send(batch) == 10, "the second batch was not sent")
            try require(sender.counters.segmentedSends == 0, "a segmented send after EIO: \(sender.counters)")
            var incoming = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: 2_048)
            var arrived = 0
            while arrived < 20 {  // bounded by the wait below
                try require(
                    try receiverSocket.descriptor.waitReadable(timeoutMilliseconds: arrivalTimeoutMilliseconds), "missing datagrams")
                incoming.removeAll()
                let n = try receiverSocket.receiveBatch(into: &incoming)
                for index in 0..<n {
                    try require(
                        isDatagram(incoming[index], sequence: (arrived + index) % 10, length: datagramSize), "datagram \(arrived + index)")
                }
                arrived += n
            }
        }
    }

    func testSegmentsBeyondThePathMTUAreSentPlainlyAndSmallerOnesStillSegmented() {
        withPrivateNetworkNamespace { here in
            try here.run("ip link set lo mtu 1500")
            try here.run("ip link set lo up")
            let receiverSocket = try DatagramSocket.open(.ipv4, nonblocking: true)
            defer { receiverSocket.close() }
            try receiverSocket.bind(to: IPEndpoint("127.0.0.1:7201"))
            let senderSocket = try DatagramSocket.open(.ipv4)
            defer { senderSocket.close() }
            try senderSocket.connect(to: IPEndpoint("127.0.0.1:7201"))
            var sender = DatagramOffload(socket: senderSocket, coalesceReceives: false)
            var receiver = DatagramOffload(socket: receiverSocket, segmentSends: false)
            var batch = PacketBatch(capacity: 8, slotSize: 2_048)
            var scratch = [UInt8](repeating: 0, count: 1_600)
            for (round, size) in [1_600, 1_000].enumerated() {
                batch.removeAll()
                for sequence in 0..<8 {
                    fillDatagram(&scratch, sequence: round * 8 + sequence, length: size)
                    try batch.append(scratch[0..<size])
                }
                var sent = 0
                while sent < batch.count { sent += try sender.send(batch, from: sent) }  // each call sends at least one or throws
                if round == 0 {
                    try require(sender.segmentSizeLimit < 1_600, "1,600-byte segments past a 1,500 MTU were not refused")
                    try require(sender.counters.segmentationFallbacks == 1, "\(sender.counters)")
                    try require(sender.sendsSegmented, "a path refusal turned segmentation off")
                } else {
                    try require(sender.counters.segmentedSends == 1, "1,000-byte datagrams not segmented: \(sender.counters)")
                }
                var incoming = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: 2_048)
                var arrived = 0
                while arrived < 8 {  // bounded by the wait below
                    try require(try receiverSocket.descriptor.waitReadable(timeoutMilliseconds: arrivalTimeoutMilliseconds), "missing")
                    let n = try receiver.receive(into: &incoming)
                    for index in arrived..<(arrived + n) {
                        try require(isDatagram(incoming[index], sequence: round * 8 + index, length: size), "datagram \(index) of \(size)")
                    }
                    arrived += n
                }
            }
        }
    }

    func testHostileCoalescedMessagesAreDroppedAndCounted() throws {
        let socket = try DatagramSocket.open(.ipv4, nonblocking: true)
        defer { socket.close() }
        var offload = DatagramOffload(socket: socket)
        offload.receive.load([
            (bytes: [UInt8](repeating: 1, count: 300), segmentSize: -1, truncated: false),  // malformed UDP_GRO data
            (bytes: [UInt8](repeating: 2, count: 300), segmentSize: 100, truncated: true),  // cut short
            (bytes: [UInt8](repeating: 3, count: 250), segmentSize: 100, truncated: false),  // 100 + 100 + 50
            (bytes: [UInt8](repeating: 4, count: 600), segmentSize: 0, truncated: false),  // one datagram, too long for a slot
            (bytes: [UInt8](repeating: 5, count: 90), segmentSize: 200, truncated: false),  // size past the length: one datagram
        ])
        var batch = PacketBatch(capacity: 8, slotSize: 512)
        XCTAssertEqual(try offload.receive(into: &batch), 4)
        XCTAssertEqual(batch.map(\.count), [100, 100, 50, 90])
        XCTAssertEqual(batch.map { $0.first }, [3, 3, 3, 5])
        XCTAssertEqual(offload.counters.malformedControl, 1)
        XCTAssertEqual(offload.counters.truncatedMessages, 1)
        XCTAssertEqual(offload.counters.oversizedDatagrams, 1)
        XCTAssertEqual(offload.counters.coalescedReceives, 1)
        XCTAssertEqual(offload.counters.datagramsSplit, 3)
        // Nothing pending and nothing queued: the next call asks the kernel, which has nothing.
        XCTAssertThrowsError(try offload.receive(into: &batch)) { XCTAssertTrue(($0 as? SystemError)?.isWouldBlock ?? false, "\($0)") }
    }

    func testSendsAreGroupedIntoRunsOfEqualSizeEndedByAShorterOne() {
        let lengths = [1_400, 1_400, 1_400, 700, 1_400, 1_400, 0, 1_400, 1_500, 1_400]
        var firsts = [Int32](repeating: -1, count: 64)
        var segments = [Int32](repeating: -1, count: 64)
        var sizes = [UInt16](repeating: 0, count: 64)
        let messages = lengths.withUnsafeBufferPointer { lengths in
            DatagramOffload.plan(lengths: lengths, from: 0, count: lengths.count, firsts: &firsts, segments: &segments, sizes: &sizes)
        }
        // 4 ending with the shorter one; 2 up to the empty one, which goes alone; a longer one ends a
        // run; 1,500 then 1,400 is a run with a shorter last.
        XCTAssertEqual(messages, 5)
        XCTAssertEqual(Array(firsts.prefix(messages)), [0, 4, 6, 7, 8])
        XCTAssertEqual(Array(segments.prefix(messages)), [4, 2, 1, 1, 2])
        XCTAssertEqual(Array(sizes.prefix(messages)), [1_400, 1_400, 0, 1_400, 1_500])
        // A run stops at the payload limit of one send.
        let many = [Int](repeating: 1_400, count: 64)
        let limited = many.withUnsafeBufferPointer { lengths in
            DatagramOffload.plan(lengths: lengths, from: 0, count: lengths.count, firsts: &firsts, segments: &segments, sizes: &sizes)
        }
        XCTAssertEqual(Int(segments[0]), DatagramOffload.maximumSegmentedPayload / 1_400)
        XCTAssertEqual(limited, 2)
    }
}
