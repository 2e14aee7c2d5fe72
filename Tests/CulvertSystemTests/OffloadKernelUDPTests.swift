// OffloadKernelUDPTests: UDP segmentation offload (USO, Linux 6.2+) against the kernel (root, private
// network namespace). Out: one UDP_SEGMENT send comes out of the TUN as a UDP_L4 super-packet that
// splits into valid datagrams carrying the bytes sent. In: datagrams coalesced into one UDP_L4
// super-packet and written to the TUN reach a local UDP socket as the original datagrams.

import CulvertSystem
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Datagrams per burst and their payload size.
private let burstDatagrams = 20
private let datagramSize = 1_200
/// SOL_UDP and UDP_SEGMENT (<linux/udp.h>; not in Glibc's headers).
private let solUDP: Int32 = 17
private let udpSegmentOption: Int32 = 103

/// A UDP socket bound to `address:port`: close-on-exec, in the calling thread's namespace.
private func udpSocket(boundTo address: [UInt8], port: UInt16) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    try require(fd >= 0, "socket: errno \(errno)")
    guard withAddress(address, port: port, { bind(fd, $0, $1) }) == 0 else {
        let code = errno
        close(fd)
        throw KernelTestFailure(description: "bind: errno \(code)")
    }
    return fd
}

final class OffloadKernelUDPTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(geteuid() == 0, "network namespaces and TUN devices need root")
    }

    func testUDPSuperPacketsBothWays() {
        withPrivateNetworkNamespace { _ in
            let tun = try OffloadKernelTests.offloadTun([.checksum, .tcpV4, .tcpV6, .udpV4, .udpV6])
            defer { tun.descriptor.close() }
            var peer = PeerSide(tun: tun.descriptor)
            let payload = (0..<(burstDatagrams * datagramSize)).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ $0 >> 9) }

            // Out: one send of 20 datagrams' worth with UDP_SEGMENT.
            let sender = try udpSocket(boundTo: localAddress, port: 7_000)
            defer { close(sender) }
            var segment = Int32(datagramSize)
            try require(setsockopt(sender, solUDP, udpSegmentOption, &segment, 4) == 0, "UDP_SEGMENT: errno \(errno)")
            let sent = withAddress(peerAddress, port: 7_001) { address, length in
                payload.withUnsafeBytes { sendto(sender, $0.baseAddress, $0.count, 0, address, length) }
            }
            try require(sent == payload.count, "sendto: \(sent), errno \(errno)")
            let deadline = ContinuousClock.now + exchangeTimeout
            var segmenter = OffloadSegmenter()
            var batch = PacketBatch(capacity: PacketBatch.maximumPacketCount, slotSize: 2_048)
            var received: [UInt8] = []
            var superPackets = 0
            while received.count < payload.count {  // bounded: `next` returns nil at the deadline
                guard let read = try peer.next(protocol: 17, toPort: 7_001, deadline: deadline) else { break }
                let header = try read.withUnsafeBytes { try VirtioNetHeader(parsing: $0) }
                if header.gsoType == .udpL4 { superPackets += 1 }
                var next: Int? = 0
                while let resume = next {
                    batch.removeAll()
                    next = try segmenter.split(read[...], resumingAt: resume, into: &batch)
                    for datagram in batch.map({ Array($0) }) {
                        try require(checksumProblems(datagram) == [], "datagram: \(checksumProblems(datagram))")
                        received += datagram[28...]
                    }
                }
            }
            try require(received == payload, "received \(received.count) of \(payload.count) bytes intact")
            try require(superPackets > 0, "the kernel sent no UDP_L4 super-packet")
            try require(segmenter.counters.segmentsProduced == UInt64(burstDatagrams), "counters: \(segmenter.counters)")

            // In: 20 datagrams coalesced into one UDP_L4 super-packet for a local socket.
            let receiver = try udpSocket(boundTo: localAddress, port: 7_002)
            defer { close(receiver) }
            let flow = TestFlow(source: peerAddress, destination: localAddress, sourcePort: 7_003, destinationPort: 7_002)
            var input = PacketBatch(capacity: burstDatagrams, slotSize: 2_048)
            for index in 0..<burstDatagrams {
                let chunk = Array(payload[(index * datagramSize)..<((index + 1) * datagramSize)])
                try input.append(udpDatagram(flow, payload: chunk, ip: TestIP(identification: UInt16(500 + index))))
            }
            var coalescer = OffloadCoalescer(options: .init(coalesceUDP: true))
            var output = PacketBatch(capacity: 2, slotSize: OffloadCoalescer.maximumSuperPacketLength)
            try require(coalescer.coalesce(input, into: &output) == burstDatagrams, "all datagrams taken")
            try require(output.count == 1, "one super-packet, not \(output.count)")
            try require(try tun.descriptor.writePackets(output) == 1, "super-packet written")
            var datagrams: [[UInt8]] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while datagrams.count < burstDatagrams, ContinuousClock.now < deadline {  // bounded by the deadline
                guard try Descriptor(rawValue: receiver).waitReadable(timeoutMilliseconds: pollMilliseconds) else { continue }
                let n = chunk.withUnsafeMutableBytes { recv(receiver, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n > 0 { datagrams.append(Array(chunk[0..<n])) }
            }
            try require(datagrams.count == burstDatagrams, "received \(datagrams.count) datagrams")
            try require(datagrams.allSatisfy { $0.count == datagramSize }, "sizes \(datagrams.map(\.count))")
            try require(Array(datagrams.joined()) == payload, "the datagrams carry the bytes coalesced")
        }
    }
}
