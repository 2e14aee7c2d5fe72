// OffloadSegmenterTests: splitting TUN super-packets (no root, no kernel): golden splits of hand-
// built TCPv4, TCPv6 and UDP super-packets against segments built independently, checksum
// completion, resuming across batches, every malformed-header drop reason with its counter, 10,000
// random buffers through the parser, and 100,000 segments split with the heap left as it was.

import CulvertSystem
import XCTest

/// Segments written by the allocation test.
private let allocationTestSegments = 100_000
/// Heap growth tolerated over the allocation test (other threads of the test runner may allocate a
/// little meanwhile); one allocation per packet that stayed would be megabytes.
private let allocationTestSlackBytes = 16_384
/// Random buffers fed to the parser.
private let fuzzIterations = 10_000

final class OffloadSegmenterTests: XCTestCase {
    private func split(
        _ read: [UInt8], headerSize: Int = VirtioNetHeader.size, capacity: Int = PacketBatch.maximumPacketCount, slotSize: Int = 65_535,
        segmenter: inout OffloadSegmenter
    ) throws(OffloadDrop) -> [[UInt8]] {
        var batch = PacketBatch(capacity: capacity, slotSize: slotSize)
        var all: [[UInt8]] = []
        var next: Int? = 0
        while let resume = next {
            batch.removeAll()
            next = try segmenter.split(read[...], resumingAt: resume, into: &batch)
            all += packets(of: batch)
        }
        return all
    }

    func testGoldenSplitOfTCPv4SuperPacket() throws {
        let payload = (0..<2_500).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let options = timestampOptions(0xA0B0_C0D0, echo: 0x0102_0304)
        // ACK PSH FIN CWR: PSH and FIN belong on the last segment only, CWR on the first only.
        let read = superPacket(.v4, tcp: true, sequence: 0xFFFF_FC00, payload: payload, segmentSize: 1_000, flags: 0x99, options: options)
        var segmenter = OffloadSegmenter()
        let segments = try split(read, segmenter: &segmenter)
        let expected = [
            tcpSegment(
                .v4, sequence: 0xFFFF_FC00, payload: Array(payload[0..<1_000]), flags: 0x90, options: options,
                ip: TestIP(identification: 0x1234)),
            tcpSegment(
                .v4, sequence: 0xFFFF_FC00 &+ 1_000, payload: Array(payload[1_000..<2_000]), flags: 0x10, options: options,
                ip: TestIP(identification: 0x1235)),
            tcpSegment(
                .v4, sequence: 0xFFFF_FC00 &+ 2_000, payload: Array(payload[2_000...]), flags: 0x19, options: options,
                ip: TestIP(identification: 0x1236)),
        ]
        XCTAssertEqual(segments.count, 3)
        XCTAssertEqual(segments, expected)
        // A few fields spelled out: lengths, the wrapped sequence number, the flags.
        XCTAssertEqual(segments.map { readBE16($0, 2) }, [1_052, 1_052, 552])
        XCTAssertEqual(segments.map { readBE32($0, 24) }, [0xFFFF_FC00, 0xFFFF_FFE8, 0x0000_03D0])
        XCTAssertEqual(segments.map { $0[33] }, [0x90, 0x10, 0x19])
        for segment in segments { XCTAssertEqual(checksumProblems(segment), []) }
        XCTAssertEqual(segmenter.counters.superPacketsSplit, 1)
        XCTAssertEqual(segmenter.counters.segmentsProduced, 3)
        XCTAssertEqual(segmenter.counters.totalDropped, 0)
    }

    func testGoldenSplitOfTCPv6SuperPacketWithTwelveByteHeader() throws {
        let payload = (0..<4_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
        let ip = TestIP(ttl: 61, tos: 0x28, flowLabel: 0xABCDE)
        let read = superPacket(.v6, tcp: true, sequence: 77, payload: payload, segmentSize: 1_428, flags: 0x18, ip: ip, headerSize: 12)
        var segmenter = OffloadSegmenter(headerSize: VirtioNetHeader.sizeWithBufferCount)
        let segments = try split(read, headerSize: 12, segmenter: &segmenter)
        let expected = [
            tcpSegment(.v6, sequence: 77, payload: Array(payload[0..<1_428]), flags: 0x10, ip: ip),
            tcpSegment(.v6, sequence: 77 + 1_428, payload: Array(payload[1_428..<2_856]), flags: 0x10, ip: ip),
            tcpSegment(.v6, sequence: 77 + 2_856, payload: Array(payload[2_856...]), flags: 0x18, ip: ip),
        ]
        XCTAssertEqual(segments, expected)
        XCTAssertEqual(segments.map { readBE16($0, 4) }, [1_448, 1_448, 1_164])
        for segment in segments { XCTAssertEqual(checksumProblems(segment), []) }
    }

    func testGoldenSplitOfUDPSuperPacket() throws {
        for flow in [TestFlow.v4, .v6] {
            let payload = (0..<3_000).map { UInt8(truncatingIfNeeded: $0 &+ 3) }
            let read = superPacket(flow, tcp: false, payload: payload, segmentSize: 1_200, ip: TestIP(identification: 0xFFFF))
            var segmenter = OffloadSegmenter()
            let segments = try split(read, segmenter: &segmenter)
            let expected = [
                udpDatagram(flow, payload: Array(payload[0..<1_200]), ip: TestIP(identification: 0xFFFF)),
                udpDatagram(flow, payload: Array(payload[1_200..<2_400]), ip: TestIP(identification: 0)),
                udpDatagram(flow, payload: Array(payload[2_400...]), ip: TestIP(identification: 1)),
            ]
            XCTAssertEqual(segments, expected, "\(flow)")
            for segment in segments { XCTAssertEqual(checksumProblems(segment), []) }
        }
    }

    func testChecksumCompletionAndPlainPackets() throws {
        let finished = tcpSegment(.v4, sequence: 5, payload: Array(repeating: 0x5A, count: 333), flags: 0x18)
        var partial = finished
        let sum = referenceSum([], initial: pseudoHeaderSum(.v4, proto: 6, length: finished.count - 20))
        partial[36] = UInt8(sum >> 8)
        partial[37] = UInt8(sum & 0xFF)
        let needs = VirtioNetHeader(flags: VirtioNetHeader.flagNeedsChecksum, checksumStart: 20, checksumOffset: 16)
        var segmenter = OffloadSegmenter()
        XCTAssertEqual(try split(needs.encoded() + partial, segmenter: &segmenter), [finished])
        XCTAssertEqual(segmenter.counters.checksumsCompleted, 1)
        // No flags, no GSO: copied as it is, whatever it holds.
        let odd: [UInt8] = [0x99, 1, 2, 3]
        XCTAssertEqual(try split(VirtioNetHeader().encoded() + odd, segmenter: &segmenter), [odd])
        XCTAssertEqual(try split(VirtioNetHeader().encoded(), segmenter: &segmenter), [[]])
        XCTAssertEqual(segmenter.counters.segmentsProduced, 3)
        XCTAssertEqual(segmenter.counters.superPacketsSplit, 0)
    }

    func testSplitResumesWhenTheBatchFills() throws {
        let payload = (0..<4_500).map { UInt8(truncatingIfNeeded: $0) }
        let read = superPacket(.v4, tcp: true, payload: payload, segmentSize: 1_000)
        var whole = OffloadSegmenter()
        let all = try split(read, segmenter: &whole)
        XCTAssertEqual(all.count, 5)
        var segmenter = OffloadSegmenter()
        var batch = PacketBatch(capacity: 2, slotSize: 1_500)
        XCTAssertEqual(try segmenter.split(read[...], into: &batch), 2)
        XCTAssertEqual(packets(of: batch), Array(all[0..<2]))
        batch.removeAll()
        XCTAssertEqual(try segmenter.split(read[...], resumingAt: 2, into: &batch), 4)
        XCTAssertEqual(packets(of: batch), Array(all[2..<4]))
        batch.removeAll()
        XCTAssertNil(try segmenter.split(read[...], resumingAt: 4, into: &batch))
        XCTAssertEqual(packets(of: batch), [all[4]])
        XCTAssertEqual(segmenter.counters.superPacketsSplit, 1)
        // A full batch takes nothing and asks to be called again from the same segment.
        try batch.append([0])
        XCTAssertEqual(try segmenter.split(read[...], resumingAt: 3, into: &batch), 3)
        XCTAssertEqual(batch.count, 2)
    }

    /// Each malformed read → its exact drop reason, its counter, an unchanged batch.
    func testMalformedHeadersAreDroppedWithTheirReason() {
        let payload = [UInt8](repeating: 0x42, count: 3_000)
        let good = superPacket(.v4, tcp: true, payload: payload, segmentSize: 1_000)
        func mutated(_ change: (inout [UInt8]) -> Void) -> [UInt8] {
            var bytes = good
            change(&bytes)
            return bytes
        }
        func header(_ body: (inout VirtioNetHeader) -> Void) -> [UInt8] {
            var parsed = try! good.withUnsafeBytes { try VirtioNetHeader(parsing: $0) }  // `good` starts with a header this test wrote
            body(&parsed)
            return parsed.encoded() + good[10...]
        }
        let ipStart = 10
        let noChecksum = header {
            $0.flags = 0
            $0.headerLength = 0
        }
        let noHeaderLength = header { $0.headerLength = 0 }
        var longIHL = Array(noChecksum.prefix(ipStart + 50))
        longIHL[ipStart] = 0x4F
        var longDataOffset = Array(good.prefix(ipStart + 44))
        longDataOffset[ipStart + 32] = 0xF0
        var icmpInUDP = header { $0.gsoType = .udpL4 }
        icmpInUDP[ipStart + 9] = 1
        let cases: [(String, [UInt8], OffloadDrop, Int)] = [
            ("5 bytes", Array(good[0..<5]), .truncatedVirtioHeader, 65_535),
            ("RSC_INFO flag", mutated { $0[0] |= 4 }, .unsupportedFlags, 65_535),
            ("UFO gso_type", mutated { $0[1] = 3 }, .unknownGSOType, 65_535),
            ("gso_type 2", mutated { $0[1] = 2 }, .unknownGSOType, 65_535),
            ("gso_size 0", header { $0.gsoSize = 0 }, .gsoSizeZero, 65_535),
            ("gso_size 65535", header { $0.gsoSize = 65_535 }, .gsoSizeTooLarge, 65_535),
            ("segment larger than a slot", good, .gsoSizeTooLarge, 900),
            ("gso_size 1", header { $0.gsoSize = 1 }, .tooManySegments, 65_535),
            ("hdr_len past the end", header { $0.headerLength = UInt16(good.count - 9) }, .headerLengthPastBuffer, 65_535),
            ("csum_start past the end", header { $0.checksumStart = 60_000 }, .checksumStartPastBuffer, 65_535),
            (
                "csum_offset past the end", header { $0.checksumOffset = UInt16(good.count - 10 - 20 - 1) }, .checksumOffsetPastBuffer,
                65_535
            ),
            ("csum_offset of UDP on TCP", header { $0.checksumOffset = 6 }, .checksumFieldMismatch, 65_535),
            ("csum_start not the TCP header", header { $0.checksumStart = 24 }, .checksumFieldMismatch, 65_535),
            ("GSO without NEEDS_CSUM", header { $0.flags = 0 }, .checksumFieldMismatch, 65_535),
            ("TCPV6 on IPv4", header { $0.gsoType = .tcpV6 }, .ipVersionMismatch, 65_535),
            ("IP version 5", mutated { $0[ipStart] = 0x55 }, .ipVersionMismatch, 65_535),
            ("UDP inside TCPV4", mutated { $0[ipStart + 9] = 17 }, .protocolMismatch, 65_535),
            ("ICMP inside UDP_L4", icmpInUDP, .protocolMismatch, 65_535),
            ("IP header cut", Array(noChecksum.prefix(ipStart + 12)), .truncatedIPHeader, 65_535),
            ("IHL past the end", longIHL, .truncatedIPHeader, 65_535),
            ("IHL under 5", mutated { $0[ipStart] = 0x44 }, .truncatedIPHeader, 65_535),
            ("TCP header cut", Array(noHeaderLength.prefix(ipStart + 30)), .checksumOffsetPastBuffer, 65_535),
            ("TCP data offset 4", mutated { $0[ipStart + 32] = 0x40 }, .truncatedTransportHeader, 65_535),
            ("TCP data offset past the end", longDataOffset, .truncatedTransportHeader, 65_535),
            ("fragment", mutated { $0[ipStart + 6] |= 0x20 }, .fragmentedPacket, 65_535),
            ("over 64 KiB", good + [UInt8](repeating: 0, count: 65_535), .packetTooLarge, 65_535),
        ]
        var segmenter = OffloadSegmenter()
        for (name, read, reason, slotSize) in cases {
            var batch = PacketBatch(capacity: 8, slotSize: slotSize)
            let before = segmenter.counters[reason]
            XCTAssertThrowsError(try segmenter.split(read[...], into: &batch), name) { error in
                XCTAssertEqual(error as? OffloadDrop, reason, name)
            }
            XCTAssertEqual(segmenter.counters[reason], before + 1, name)
            XCTAssertEqual(batch.count, 0, name)
        }
        XCTAssertEqual(segmenter.counters.totalDropped, UInt64(cases.count))
        XCTAssertEqual(segmenter.counters.segmentsProduced, 0)
        var missing = Set(OffloadDrop.allCases)
        for (_, _, reason, _) in cases { missing.remove(reason) }
        XCTAssertEqual(missing, [], "every drop reason has a case")
    }

    /// Random bytes, biased towards plausible headers, never trap; each read is split or counted.
    func testRandomBuffersNeverTrap() {
        var generator = SeededGenerator(seed: 0x0FF1_0AD5)
        var segmenter = OffloadSegmenter()
        var batch = PacketBatch(capacity: 16, slotSize: 2_048)
        var accepted = 0
        let types: [UInt8] = [0, 1, 3, 4, 5, 0x81, 0x84, 0x7F]
        for _ in 0..<fuzzIterations {
            var read = randomPayload(Int.random(in: 0...400, using: &generator), using: &generator)
            if read.count > 30 && Bool.random(using: &generator) {
                read[0] = UInt8.random(in: 0...3, using: &generator)
                read[1] = types.randomElement(using: &generator) ?? 0
                read[5] = 0
                read[10] = Bool.random(using: &generator) ? 0x45 : 0x60
                read[6] = Bool.random(using: &generator) ? 20 : 40
                read[7] = 0
            }
            batch.removeAll()
            do {
                _ = try segmenter.split(read[...], into: &batch)
                accepted += 1
            } catch {
                XCTAssertEqual(batch.count, 0)
            }
        }
        XCTAssertEqual(UInt64(accepted) + segmenter.counters.totalDropped, UInt64(fuzzIterations))
        XCTAssertGreaterThan(segmenter.counters.totalDropped, 0)
    }

    /// 100,000 segments split into one reused batch: the batch's buffer never moves and the heap
    /// ends where it started (glibc's bytes in use), so splitting keeps nothing per packet; the
    /// path itself touches only unsafe buffers and integers. Prints the rate (debug build).
    func testSplittingAHundredThousandSegmentsLeavesTheHeapAsItWas() throws {
        let read = superPacket(
            .v4, tcp: true, payload: [UInt8](repeating: 7, count: 44 * 1_448), segmentSize: 1_448,
            options: timestampOptions(1, echo: 2))
        var segmenter = OffloadSegmenter()
        var batch = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: 1_500)
        _ = try segmenter.split(read[...], into: &batch)  // warm up: first-use allocations happen here
        let slotAddress = batch[0].withUnsafeBytes { $0.baseAddress }
        let heapBefore = MemoryPolicy.heapBytesInUse
        let clock = ContinuousClock()
        var produced = 0
        let elapsed = try clock.measure {
            try read.withUnsafeBytes { bytes in
                while produced < allocationTestSegments {
                    batch.removeAll()
                    _ = try segmenter.split(bytes, into: &batch)
                    produced += batch.count
                }
            }
        }
        let heapAfter = MemoryPolicy.heapBytesInUse
        XCTAssertEqual(batch[0].withUnsafeBytes { $0.baseAddress }, slotAddress, "the batch's buffer was reallocated")
        XCTAssertLessThanOrEqual(heapAfter - heapBefore, allocationTestSlackBytes, "heap grew by \(heapAfter - heapBefore) bytes")
        XCTAssertEqual(checksumProblems(Array(batch[43])), [])
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            "split \(produced) segments in \(seconds) s: \(Int(Double(produced) / seconds)) segments/s, heap \(heapBefore) → \(heapAfter)")
    }
}
