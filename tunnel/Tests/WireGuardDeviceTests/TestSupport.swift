// Helpers for WireGuardDeviceTests: a seeded generator and IP packet builders.
import CulvertCore
import WireGuardCrypto
import WireGuardDevice

/// The seeded generator tests use (SplitMix64, CulvertCore), under the name they call it by.
typealias SeededGenerator = SeededRandomNumberGenerator

extension SeededRandomNumberGenerator {
    init(state: UInt64) { self.init(seed: state) }
}

enum TestPackets {
    /// A minimal IPv4 packet (no checksum: the device never looks at it) with a patterned payload.
    static func ipv4(source: IPAddress, destination: IPAddress, payloadCount: Int, fill: UInt8 = 0xa5) -> [UInt8] {
        let total = 20 + payloadCount
        var packet = [UInt8](repeating: fill, count: total)
        packet[0] = 0x45
        packet[1] = 0
        packet[2] = UInt8(total >> 8)
        packet[3] = UInt8(total & 0xff)
        for index in 4..<12 { packet[index] = 0 }
        packet.replaceSubrange(12..<16, with: source.bytes)
        packet.replaceSubrange(16..<20, with: destination.bytes)
        return packet
    }
}
