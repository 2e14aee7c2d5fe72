// OffloadCoalescerTests: merging packets into super-packets (no root, no kernel). Property tests
// with a seeded generator — random sizes, MSS, TCP timestamps, IPv4/IPv6, flags: split → coalesce
// gives back the super-packet byte for byte, and coalesce → split gives back every packet of every
// flow in order; each produced packet passes the independent checksum check. Plus the cases that
// must not merge, the bounds, and UDP behind its option.

import CulvertSystem
import XCTest

/// Random super-packets per property test.
private let propertyCases = 300
/// Random packet streams in the coalesce → split test.
private let streamCases = 200
/// Packets coalesced by the heap test, and the random packets fed to the coalescer.
private let heapTestPackets = 100_000
private let randomPackets = 10_000
/// Heap growth tolerated over the heap test (the test runner's other threads); see OffloadSegmenterTests.
private let heapTestSlackBytes = 16_384

final class OffloadCoalescerTests: XCTestCase {
    private func coalesce(_ input: [[UInt8]], options: OffloadCoalescer.Options = .init(), headerSize: Int = 10) throws -> (
        [[UInt8]], OffloadCounters
    ) {
        var coalescer = OffloadCoalescer(headerSize: headerSize, options: options)
        var batch = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: 65_535)
        var output = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: 65_535)
        var all: [[UInt8]] = []
        // One input batch per 64 packets, as a provider receives them.
        for start in stride(from: 0, to: input.count, by: batch.capacity) {
            batch.removeAll()
            for packet in input[start..<min(start + batch.capacity, input.count)] { try batch.append(packet) }
            var next = 0
            repeat {
                output.removeAll()
                next = coalescer.coalesce(batch, from: next, into: &output)
                all += packets(of: output)
            } while next < batch.count
        }
        return (all, coalescer.counters)
    }

    private func split(_ read: [UInt8], headerSize: Int = 10) throws -> [[UInt8]] {
        var segmenter = OffloadSegmenter(headerSize: headerSize)
        var batch = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: 65_535)
        var all: [[UInt8]] = []
        var next: Int? = 0
        while let resume = next {
            batch.removeAll()
            next = try segmenter.split(read[...], resumingAt: resume, into: &batch)
            all += packets(of: batch)
        }
        return all
    }

    /// A random kernel-style super-packet of two or more segments, at most `maximumSegments`.
    private func randomSuperPacket(tcp: Bool, using generator: inout SeededGenerator) -> (read: [UInt8], headerSize: Int) {
        let flow = TestFlow.random(using: &generator)
        let options = tcp && Bool.random(using: &generator) ? timestampOptions(.random(in: 0...UInt32.max, using: &generator), echo: 7) : []
        let headers = (flow.isIPv6 ? 40 : 20) + (tcp ? 20 + options.count : 8)
        let segmentSize = Int.random(in: 1...1_460, using: &generator)
        let most = min((65_535 - VirtioNetHeader.sizeWithBufferCount - headers), OffloadCoalescer.maximumSegments * segmentSize)
        let payload = randomPayload(Int.random(in: (segmentSize + 1)...max(segmentSize + 1, most), using: &generator), using: &generator)
        var flags: UInt8 = 0x10
        if tcp {
            for bit: UInt8 in [0x08, 0x01, 0x80, 0x40] where Int.random(in: 0..<4, using: &generator) == 0 { flags |= bit }
        }
        let ip = TestIP(
            identification: .random(in: 0...UInt16.max, using: &generator), dontFragment: Bool.random(using: &generator),
            ttl: .random(in: 1...255, using: &generator), tos: .random(in: 0...255, using: &generator),
            flowLabel: .random(in: 0...0xFFFFF, using: &generator))
        let headerSize = Bool.random(using: &generator) ? 10 : 12
        let read = superPacket(
            flow, tcp: tcp, sequence: .random(in: 0...UInt32.max, using: &generator), payload: payload, segmentSize: segmentSize,
            flags: flags, options: options, ip: ip, headerSize: headerSize)
        return (read, headerSize)
    }

    func testSplitThenCoalesceGivesBackTheSuperPacket() throws {
        var generator = SeededGenerator(seed: 0x5EED_0001)
        for round in 0..<propertyCases {
            let tcp = round % 4 != 3
            let (read, headerSize) = randomSuperPacket(tcp: tcp, using: &generator)
            let segments = try split(read, headerSize: headerSize)
            XCTAssertGreaterThan(segments.count, 1)
            for segment in segments { XCTAssertEqual(checksumProblems(segment), [], "round \(round)") }
            let (merged, counters) = try coalesce(segments, options: .init(coalesceUDP: true), headerSize: headerSize)
            XCTAssertEqual(merged.count, 1, "round \(round)")
            XCTAssertEqual(merged.first, read, "round \(round): \(segments.count) segments, tcp \(tcp)")
            XCTAssertEqual(counters.packetsCoalesced, UInt64(segments.count))
        }
    }

    func testCoalesceThenSplitGivesBackEveryPacketInFlowOrder() throws {
        var generator = SeededGenerator(seed: 0x5EED_0002)
        for round in 0..<streamCases {
            let flows = (0..<Int.random(in: 1...3, using: &generator)).map { _ in TestFlow.random(using: &generator) }
            var sequences = flows.map { _ in UInt32.random(in: 0...UInt32.max, using: &generator) }
            var identifications = flows.map { _ in UInt16.random(in: 0...UInt16.max, using: &generator) }
            let sizes = flows.map { _ in Int.random(in: 1...1_400, using: &generator) }
            var input: [[UInt8]] = []
            for _ in 0..<Int.random(in: 1...64, using: &generator) {
                let which = Int.random(in: 0..<flows.count, using: &generator)
                let roll = Int.random(in: 0..<20, using: &generator)
                // Mostly full segments; sometimes a short one, a pure ACK, a SYN, a gap or a PSH.
                let length = roll == 0 ? Int.random(in: 1...sizes[which], using: &generator) : roll == 1 ? 0 : sizes[which]
                let flags: UInt8 = roll == 2 ? 0x02 : roll == 3 ? 0x18 : 0x10
                if roll == 4 { sequences[which] &+= 1_000 }
                let packet = tcpSegment(
                    flows[which], sequence: sequences[which], payload: randomPayload(length, using: &generator), flags: flags,
                    options: timestampOptions(9, echo: 9), ip: TestIP(identification: identifications[which]))
                sequences[which] &+= UInt32(length)
                identifications[which] &+= 1
                input.append(packet)
            }
            let (merged, _) = try coalesce(input)
            var again: [[UInt8]] = []
            for read in merged { again += try split(read) }
            for packet in again { XCTAssertEqual(checksumProblems(packet), [], "round \(round)") }
            for flow in flows {
                let key = flow.source + flow.destination
                func ofFlow(_ packets: [[UInt8]]) -> [[UInt8]] {
                    packets.filter { Array($0[(flow.isIPv6 ? 8 : 12)..<(flow.isIPv6 ? 40 : 20)]) == key }
                }
                XCTAssertEqual(ofFlow(again), ofFlow(input), "round \(round)")
            }
            XCTAssertEqual(again.count, input.count, "round \(round)")
        }
    }

    func testWhatMustNotMerge() throws {
        let flow = TestFlow.v4
        let payload = [UInt8](repeating: 1, count: 1_000)
        func segment(_ sequence: UInt32, id: UInt16, flags: UInt8 = 0x10, window: Int = 501, ttl: UInt8 = 64, size: Int = 1_000) -> [UInt8]
        {
            tcpSegment(
                flow, sequence: sequence, payload: Array(payload.prefix(size)), flags: flags, ip: TestIP(identification: id, ttl: ttl),
                window: window)
        }
        var corrupted = segment(2_000, id: 2)
        corrupted[100] ^= 0xFF
        let pairs: [(String, [UInt8], [UInt8])] = [
            ("a gap in the sequence", segment(1_000, id: 1), segment(2_001, id: 2)),
            ("an identification that does not follow", segment(1_000, id: 1), segment(2_000, id: 5)),
            ("another window", segment(1_000, id: 1), segment(2_000, id: 2, window: 502)),
            ("another TTL", segment(1_000, id: 1), segment(2_000, id: 2, ttl: 63)),
            ("CWR after the first", segment(1_000, id: 1), segment(2_000, id: 2, flags: 0x90)),
            ("SYN", segment(1_000, id: 1), segment(2_000, id: 2, flags: 0x12)),
            ("a longer segment", segment(1_000, id: 1, size: 999), segment(1_999, id: 2)),
            ("a bad checksum", segment(1_000, id: 1), corrupted),
            ("a pure ACK", segment(1_000, id: 1), segment(2_000, id: 2, size: 0)),
        ]
        for (name, first, next) in pairs {
            let (merged, counters) = try coalesce([first, next])
            XCTAssertEqual(merged, [VirtioNetHeader().encoded() + first, VirtioNetHeader().encoded() + next], name)
            XCTAssertEqual(counters.packetsPassedThrough, 2, name)
        }
        // After a PSH or a short segment, the super-packet is closed: the third starts a new one.
        for (name, flags, size) in [("PSH", UInt8(0x18), 1_000), ("short", UInt8(0x10), 500)] {
            let (merged, counters) = try coalesce([
                segment(1_000, id: 1), segment(2_000, id: 2, flags: flags, size: size), segment(2_000 + UInt32(size), id: 3),
            ])
            XCTAssertEqual(merged.count, 2, name)
            XCTAssertEqual(counters.superPacketsCoalesced, 1, name)
        }
        // Interleaved flows merge each on its own; UDP merges only when asked.
        let other = TestFlow.v6
        let interleaved = [
            segment(1_000, id: 1), tcpSegment(other, sequence: 9, payload: payload), segment(2_000, id: 2),
            tcpSegment(other, sequence: 1_009, payload: payload),
        ]
        XCTAssertEqual(try coalesce(interleaved).0.count, 2)
        let datagrams = [
            udpDatagram(flow, payload: payload, ip: TestIP(identification: 1)),
            udpDatagram(flow, payload: payload, ip: TestIP(identification: 2)),
        ]
        XCTAssertEqual(try coalesce(datagrams).0.count, 2)
        XCTAssertEqual(try coalesce(datagrams, options: .init(coalesceUDP: true)).0.count, 1)
    }

    func testBoundsOnSegmentsAndLength() throws {
        let flow = TestFlow.v4
        // 100 segments of 100 bytes: 64 in the first super-packet, 36 in the second.
        let small = (0..<100).map {
            tcpSegment(flow, sequence: UInt32($0 * 100), payload: [UInt8](repeating: 3, count: 100), ip: TestIP(identification: UInt16($0)))
        }
        let (merged, _) = try coalesce(small)
        XCTAssertEqual(merged.count, 2)
        XCTAssertEqual(try split(merged[0]).count, OffloadCoalescer.maximumSegments)
        // 50 segments of 1,400 bytes: no super-packet passes 64 KiB with its header.
        let large = (0..<50).map {
            tcpSegment(
                flow, sequence: UInt32($0 * 1_400), payload: [UInt8](repeating: 4, count: 1_400), ip: TestIP(identification: UInt16($0)))
        }
        let (big, _) = try coalesce(large)
        XCTAssertEqual(big.count, 2)
        for read in big { XCTAssertLessThanOrEqual(read.count, OffloadCoalescer.maximumSuperPacketLength) }
        XCTAssertEqual(try big.flatMap { try split($0) }, large)
        // A full output batch stops the round; the rest comes on the next call.
        var coalescer = OffloadCoalescer()
        var input = PacketBatch(capacity: 4, slotSize: 2_000)
        for index in 0..<4 { try input.append(udpDatagram(flow, payload: [UInt8(index)])) }
        var output = PacketBatch(capacity: 3, slotSize: 2_000)
        XCTAssertEqual(coalescer.coalesce(input, into: &output), 3)
        output.removeAll()
        XCTAssertEqual(coalescer.coalesce(input, from: 3, into: &output), 4)
        XCTAssertEqual(packets(of: output), [VirtioNetHeader().encoded() + udpDatagram(flow, payload: [3])])
        // A packet that cannot fit a slot with its header is dropped and counted.
        var tight = PacketBatch(capacity: 2, slotSize: 30)
        XCTAssertEqual(coalescer.coalesce(input, from: 3, into: &tight), 4)
        XCTAssertEqual(tight.count, 0)
        XCTAssertEqual(coalescer.counters.packetTooLarge, 1)
    }

    /// 100,000 packets coalesced through two reused batches: their buffers never move and the heap
    /// ends where it started. Prints the rate (debug build).
    func testCoalescingAHundredThousandPacketsLeavesTheHeapAsItWas() throws {
        var input = PacketBatch(capacity: 44, slotSize: 1_500)
        for index in 0..<44 {
            try input.append(
                tcpSegment(
                    .v6, sequence: UInt32(index * 1_400), payload: [UInt8](repeating: 5, count: 1_400),
                    options: timestampOptions(3, echo: 4)))
        }
        var output = PacketBatch(capacity: 4, slotSize: OffloadCoalescer.maximumSuperPacketLength)
        var coalescer = OffloadCoalescer()
        _ = coalescer.coalesce(input, into: &output)  // warm up: first-use allocations happen here
        let slotAddress = output[0].withUnsafeBytes { $0.baseAddress }
        let heapBefore = MemoryPolicy.heapBytesInUse
        var taken = 0
        let elapsed = ContinuousClock().measure {
            while taken < heapTestPackets {
                output.removeAll()
                taken += coalescer.coalesce(input, into: &output)
            }
        }
        let heapAfter = MemoryPolicy.heapBytesInUse
        XCTAssertEqual(output.count, 1)
        XCTAssertEqual(output[0].withUnsafeBytes { $0.baseAddress }, slotAddress, "the batch's buffer was reallocated")
        XCTAssertLessThanOrEqual(heapAfter - heapBefore, heapTestSlackBytes, "heap grew by \(heapAfter - heapBefore) bytes")
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("coalesced \(taken) packets in \(seconds) s: \(Int(Double(taken) / seconds)) packets/s, heap \(heapBefore) → \(heapAfter)")
    }

    /// Random bytes, and random mutations of real segments, never trap the coalescer; whatever it
    /// writes splits again without a drop.
    func testRandomPacketsNeverTrap() throws {
        var generator = SeededGenerator(seed: 0xC0A1_E5CE)
        var coalescer = OffloadCoalescer(options: .init(coalesceUDP: true, verifyChecksums: false))
        var segmenter = OffloadSegmenter()
        var input = PacketBatch(capacity: 16, slotSize: 1_600)
        var output = PacketBatch(capacity: 16, slotSize: 1_700)
        var split = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: 1_700)
        var made = 0
        while made < randomPackets {
            input.removeAll()
            let flow = Bool.random(using: &generator) ? TestFlow.v4 : .v6
            for index in 0..<16 {
                var packet =
                    Bool.random(using: &generator)
                    ? tcpSegment(
                        flow, sequence: UInt32(index * 100), payload: [UInt8](repeating: 1, count: 100),
                        ip: TestIP(identification: UInt16(index)))
                    : udpDatagram(flow, payload: [UInt8](repeating: 2, count: 100), ip: TestIP(identification: UInt16(index)))
                for _ in 0..<Int.random(in: 0...3, using: &generator) {
                    packet[Int.random(in: 0..<packet.count, using: &generator)] = .random(in: 0...255, using: &generator)
                }
                packet = Array(packet.prefix(Int.random(in: 0...packet.count, using: &generator)))
                if Int.random(in: 0..<8, using: &generator) == 0 { packet = randomPayload(packet.count, using: &generator) }
                try input.append(packet)
            }
            made += input.count
            output.removeAll()
            XCTAssertEqual(coalescer.coalesce(input, into: &output), input.count)
            for read in output {
                split.removeAll()
                XCTAssertNoThrow(try segmenter.split(read, into: &split))
            }
        }
        XCTAssertEqual(coalescer.counters.totalDropped, 0)
        XCTAssertEqual(segmenter.counters.totalDropped, 0)
    }
}
