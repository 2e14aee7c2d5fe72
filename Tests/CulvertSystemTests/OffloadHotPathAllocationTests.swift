// OffloadHotPathAllocationTests: the whole offloaded data path of a provider, in one thread, with
// the heap measured around 10,240 packets (root, private network namespace): UDP datagrams sent with
// UDP_SEGMENT (DatagramOffload) into a route through an IFF_VNET_HDR TUN, read by the SDK's
// PacketFlow channel (super-packets split), reflected in place, written back (coalesced) and
// received with UDP_GRO. The heap must end where it started: nothing is allocated per packet.

import Foundation
import XCTest

@testable import CulvertProvider
@testable import CulvertSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Datagrams per round and their size (64 × 1,200 bytes: two UDP_SEGMENT sends per round).
private let roundDatagrams = PacketBatch.maximumPacketCount
private let roundDatagramSize = 1_200
private let warmUpRounds = 10
private let measuredRounds = 160  // 10,240 packets each way
/// Heap growth tolerated over the measured rounds: far below one allocation per packet.
private let hotPathSlackBytes = 16_384
private let hotPathWaitMilliseconds: Int32 = 5_000
private let reflectedPort: UInt16 = 7_300

final class OffloadHotPathAllocationTests: XCTestCase {
    func testTenThousandPacketsThroughPacketFlowAndDatagramOffloadLeaveTheHeapAsItWas() {
        withPrivateNetworkNamespace { namespace in
            let tun = try TunDevice.create(name: "culvflow1", options: .virtioNetHeader)
            defer { tun.descriptor.close() }
            try tun.descriptor.setVirtioHeaderSize(VirtioNetHeader.size)
            let flow = PacketFlow(descriptor: tun.descriptor)
            try require(flow.isOffloading, "TUNGETIFF did not report IFF_VNET_HDR")
            try namespace.run("ip link set culvflow1 addrgenmode none")  // no IPv6 chatter in the TUN
            try namespace.run("ip addr add 10.99.0.1/32 dev culvflow1")
            try namespace.run("ip addr add 10.99.0.2/32 dev culvflow1")
            try namespace.run("ip link set culvflow1 up")
            try namespace.run("ip route add 10.99.1.0/24 dev culvflow1")
            let receiverSocket = try DatagramSocket.open(.ipv4, nonblocking: true)
            defer { receiverSocket.close() }
            try receiverSocket.bind(to: IPEndpoint("10.99.0.2:\(reflectedPort)"))
            let senderSocket = try DatagramSocket.open(.ipv4)
            defer { senderSocket.close() }
            try senderSocket.bind(to: IPEndpoint("10.99.0.1:0"))
            try senderSocket.connect(to: IPEndpoint("10.99.1.2:\(reflectedPort)"))
            var sender = DatagramOffload(socket: senderSocket, coalesceReceives: false)
            var receiver = DatagramOffload(socket: receiverSocket, segmentSends: false)
            var channel = flow.makeChannel()

            var outgoing = PacketBatch(capacity: roundDatagrams, slotSize: 2_048)
            var fromTun = PacketBatch(capacity: roundDatagrams, slotSize: 2_048)
            var toTun = PacketBatch(capacity: roundDatagrams, slotSize: 2_048)
            var incoming = PacketBatch(capacity: roundDatagrams, slotSize: 2_048)
            var scratch = [UInt8](repeating: 0, count: roundDatagramSize)
            var sequence: UInt64 = 0
            var expected: UInt64 = 0
            var heapBefore = 0
            for round in 0..<(warmUpRounds + measuredRounds) {
                if round == warmUpRounds { heapBefore = MemoryPolicy.heapBytesInUse }
                outgoing.removeAll()
                for _ in 0..<roundDatagrams {
                    scratch.withUnsafeMutableBytes { $0.storeBytes(of: sequence.bigEndian, toByteOffset: 0, as: UInt64.self) }
                    try outgoing.append(scratch)
                    sequence += 1
                }
                var sent = 0
                while sent < outgoing.count { sent += try sender.send(outgoing) }  // each call sends at least one or throws

                // The provider's side: every packet the TUN hands over, reflected in place and written back.
                toTun.removeAll()
                while toTun.count < roundDatagrams {  // bounded by the wait
                    if !(channel.hasPendingReads) {
                        try require(try tun.descriptor.waitReadable(timeoutMilliseconds: hotPathWaitMilliseconds), "the TUN stayed empty")
                    }
                    fromTun.removeAll()
                    _ = try channel.readAvailablePackets(into: &fromTun)
                    for packet in fromTun where packet.count == 28 + roundDatagramSize && packet.first == 0x45 {
                        try toTun.append(packet)
                    }
                }
                Self.reflect(&toTun)
                try channel.writePackets(toTun)

                var arrived = 0
                while arrived < roundDatagrams {  // bounded by the wait
                    try require(try receiverSocket.descriptor.waitReadable(timeoutMilliseconds: hotPathWaitMilliseconds), "datagrams lost")
                    repeat {
                        incoming.removeAll()
                        let n: Int
                        do throws(SystemError) { n = try receiver.receive(into: &incoming) } catch {
                            if error.isWouldBlock { break }
                            throw error
                        }
                        for index in 0..<n {
                            let datagram = incoming[index]
                            var number: UInt64 = 0
                            for offset in 0..<8 { number = number << 8 | UInt64(datagram[datagram.startIndex + offset]) }
                            try require(number == expected && datagram.count == roundDatagramSize, "datagram \(expected) wrong")
                            expected += 1
                        }
                        arrived += n
                    } while incoming.isFull
                }
            }
            let heapAfter = MemoryPolicy.heapBytesInUse
            let counters = channel.counters
            try require(expected == sequence, "\(expected) of \(sequence) datagrams came back")
            try require(counters.totalDropped == 0, "drops: \(counters)")
            try require(sender.counters.segmentedSends > 0, "nothing sent segmented: \(sender.counters)")
            if flow.offloads.contains([.udpV4, .udpV6]) {
                try require(counters.superPacketsSplit > 0, "USO in force but no UDP super-packet read: \(counters)")
                try require(counters.superPacketsCoalesced > 0, "USO in force but nothing coalesced: \(counters)")
                try require(receiver.counters.coalescedReceives > 0, "nothing received coalesced: \(receiver.counters)")
            }
            try require(
                heapAfter - heapBefore <= hotPathSlackBytes,
                "heap grew by \(heapAfter - heapBefore) bytes over \(measuredRounds * roundDatagrams) packets each way")
            print("hot path: offloads \(flow.offloads.rawValue), \(counters), heap \(heapBefore) → \(heapAfter)")
        }
    }

    /// Flips the third octet of both addresses of every packet (10.99.0.x ↔ 10.99.1.x): the packet
    /// comes back to the other local address with every checksum unchanged. In place, allocation-free.
    private static func reflect(_ batch: inout PacketBatch) {
        let count = batch.count
        let slotSize = batch.slotSize
        batch.withUnsafeSlots { bytes, _ in
            for index in 0..<count {
                bytes[index * slotSize + 14] ^= 1
                bytes[index * slotSize + 18] ^= 1
            }
        }
    }
}
