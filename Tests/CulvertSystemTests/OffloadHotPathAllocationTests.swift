// OffloadHotPathAllocationTests: the whole offloaded data path of a provider, in one thread, with
// the heap measured around 10,240 packets (root, private network namespace): UDP datagrams sent with
// UDP_SEGMENT (DatagramOffload) into a route through an IFF_VNET_HDR TUN, read by the SDK's
// PacketFlow channel (super-packets split), reflected in place, written back (coalesced) and
// received with UDP_GRO. The heap must end where it started, and — counted by glibc's mtrace in a
// child run of the same test — nothing is allocated per packet.

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
                if round == warmUpRounds {
                    heapBefore = MemoryPolicy.heapBytesInUse
                    MallocTrace.start()
                }
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
                    // Through the slots, not by iterating the batch (see the receive loop below).
                    let fromTunSlotSize = fromTun.slotSize
                    for index in 0..<fromTun.count {
                        try fromTun.withUnsafePackets { (bytes, lengths) throws(PacketBatchError) in
                            let packet = UnsafeRawBufferPointer(
                                rebasing: bytes[(index * fromTunSlotSize)..<(index * fromTunSlotSize + lengths[index])])
                            if packet.count == 28 + roundDatagramSize && packet[0] == 0x45 { try toTun.append(packet) }
                        }
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
                            // Through the slots, not `incoming[index]`: that Collection subscript is a
                            // coroutine, whose frame a debug build allocates on every access.
                            let slotSize = incoming.slotSize
                            let (number, length) = incoming.withUnsafePackets { bytes, lengths in
                                (UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: index * slotSize, as: UInt64.self)), lengths[index])
                            }
                            try require(number == expected && length == roundDatagramSize, "datagram \(expected) wrong")
                            expected += 1
                        }
                        arrived += n
                    } while incoming.isFull
                }
            }
            MallocTrace.stop()
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

    /// Runs the test above again in a child process with glibc's malloc tracer preloaded
    /// (libc_malloc_debug, `mtrace` from the first measured round to the last) and counts the
    /// allocations it logged: over 10,240 packets each way there must be fewer than one per 64
    /// (one per packet would be 20,480; what remains is constant: the test's own bookkeeping).
    func testTheHotPathMakesNoAllocationPerPacket() throws {
        guard !MallocTrace.isChild else { return }  // the child runs only the test above
        let tracer = "/lib/x86_64-linux-gnu/libc_malloc_debug.so.0"
        try require(FileManager.default.fileExists(atPath: tracer), "\(tracer) is missing (glibc ≥ 2.34 ships it in libc6)")
        let trace = NSTemporaryDirectory() + "culvert-mtrace-\(getpid()).log"
        defer { try? FileManager.default.removeItem(atPath: trace) }  // try?: cleanup of a temporary file
        let child = Process()
        child.executableURL = URL(fileURLWithPath: try FileSystem.symbolicLinkTarget("/proc/self/exe"))
        child.arguments = [
            "CulvertSystemTests.OffloadHotPathAllocationTests/testTenThousandPacketsThroughPacketFlowAndDatagramOffloadLeaveTheHeapAsItWas"
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["LD_PRELOAD"] = tracer
        environment["MALLOC_TRACE"] = trace
        environment[MallocTrace.childVariable] = "1"
        child.environment = environment
        let output = Pipe()
        child.standardOutput = output
        child.standardError = output
        try child.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        try require(child.terminationStatus == 0, "the traced run failed: \(text.suffix(2_000))")
        try require(text.contains("hot path: offloads"), "the traced run did not reach the hot path: \(text.suffix(2_000))")
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        try require(lines.first == "= Start", "mtrace wrote no trace (\(lines.count) lines)")
        // "@ caller + ADDR SIZE" is a malloc/calloc, "@ caller > ADDR SIZE" the new block of a realloc.
        let allocations = lines.filter { $0.contains(" + 0x") || $0.contains(" > 0x") }
        let packets = measuredRounds * roundDatagrams * 2
        print("hot path under mtrace: \(allocations.count) allocations over \(packets) packets")
        XCTAssertLessThan(allocations.count, packets / 64, "allocations on the hot path: \(allocations.prefix(20).joined(separator: "\n"))")
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

/// glibc's malloc tracer, present when libc_malloc_debug is preloaded and MALLOC_TRACE names a
/// file (the counting test's child run); otherwise its calls do nothing.
enum MallocTrace {
    static let childVariable = "CULVERT_MTRACE_CHILD"
    static var isChild: Bool { ProcessInfo.processInfo.environment[childVariable] != nil }

    static func start() { call("mtrace") }
    static func stop() { call("muntrace") }

    private typealias VersionedLookup =
        @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>, UnsafePointer<CChar>) ->
        UnsafeMutableRawPointer?

    /// libc_malloc_debug's mtrace/muntrace are non-default versions (`mtrace@GLIBC_2.2.5`, libc has
    /// a no-op `mtrace@@`), which plain dlsym does not find: looked up with dlvsym (not in the Glibc
    /// module, hence through dlsym) on the preloaded library.
    private static func call(_ name: String) {
        guard isChild, let library = dlopen("libc_malloc_debug.so.0", RTLD_NOW | RTLD_NOLOAD),
            let lookup = dlsym(nil, "dlvsym"),
            let symbol = unsafeBitCast(lookup, to: VersionedLookup.self)(library, name, "GLIBC_2.2.5")
        else { return }
        unsafeBitCast(symbol, to: (@convention(c) () -> Void).self)()
    }
}
