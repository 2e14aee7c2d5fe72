// OffloadReaderTests: OffloadReader and OffloadWriter on a descriptor that keeps message boundaries
// as a TUN does (an AF_UNIX datagram socket pair; no root): super-packets read into batches with
// the rest kept across calls, malformed reads dropped and counted, and a batch written back as the
// super-packets it came from.

import CulvertSystem
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

final class OffloadReaderTests: XCTestCase {
    /// Two connected non-blocking AF_UNIX datagram sockets (one message per read, like a TUN).
    private func datagramPair() throws -> (Descriptor, Descriptor) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw KernelTestFailure(description: "socketpair: errno \(errno)")
        }
        var size: Int32 = 4 << 20
        for fd in fds { _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, 4) }  // room for several 64 KiB messages; the default may do
        let pair = (Descriptor(rawValue: fds[0]), Descriptor(rawValue: fds[1]))
        try pair.0.setNonblocking(true)
        try pair.1.setNonblocking(true)
        return pair
    }

    func testReaderSplitsAcrossCallsAndWriterMergesBack() throws {
        let (tunSide, peerSide) = try datagramPair()
        defer {
            tunSide.close()
            peerSide.close()
        }
        let payload = (0..<(40 * 1_400)).map { UInt8(truncatingIfNeeded: $0 &* 3) }
        let reads = [
            superPacket(.v4, tcp: true, sequence: 1, payload: payload, segmentSize: 1_400, options: timestampOptions(1, echo: 2)),
            [0, 9, 0, 0],  // malformed: a truncated header
            superPacket(.v6, tcp: true, sequence: 9, payload: payload, segmentSize: 1_400, flags: 0x18),
        ]
        for read in reads { try peerSide.writeAll(read) }
        var expected: [[UInt8]] = []
        for read in [reads[0], reads[2]] {
            var segmenter = OffloadSegmenter()
            var batch = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: 1_500)
            XCTAssertNil(try segmenter.split(read[...], into: &batch))
            expected += packets(of: batch)
        }
        XCTAssertEqual(expected.count, 80)

        var reader = OffloadReader()
        var batch = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: 1_500)
        var got: [[UInt8]] = []
        XCTAssertEqual(try reader.readPackets(from: tunSide, into: &batch), 64)
        got += packets(of: batch)
        batch.removeAll()
        XCTAssertEqual(try reader.readPackets(from: tunSide, into: &batch), 16)
        got += packets(of: batch)
        batch.removeAll()
        XCTAssertEqual(try reader.readPackets(from: tunSide, into: &batch), 0, "nothing left: EAGAIN")
        XCTAssertEqual(got, expected)
        XCTAssertEqual(reader.counters.truncatedVirtioHeader, 1)
        XCTAssertEqual(reader.counters.superPacketsSplit, 2)

        // Back: the 80 packets in two batches of 40 → the two super-packets, as they were read.
        var writer = OffloadWriter()
        for half in [got[0..<40], got[40..<80]] {
            var input = PacketBatch(capacity: 40, slotSize: 1_500)
            for packet in half { try input.append(packet) }
            try writer.writePackets(input, to: tunSide)
        }
        var message = [UInt8](repeating: 0, count: OffloadSegmenter.maximumReadLength)
        var written: [[UInt8]] = []
        for _ in 0..<2 {
            let n = try message.withUnsafeMutableBytes { try peerSide.read(into: $0) }
            written.append(Array(message[0..<n]))
        }
        XCTAssertEqual(written, [reads[0], reads[2]])
        XCTAssertEqual(writer.counters.superPacketsCoalesced, 2)
        XCTAssertEqual(writer.counters.packetsCoalesced, 80)
    }
}
