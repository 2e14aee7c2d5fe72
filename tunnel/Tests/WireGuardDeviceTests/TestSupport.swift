// Helpers for WireGuardDeviceTests: a seeded generator and IP packet builders.
import WireGuardCrypto
import WireGuardDevice

/// SplitMix64: a seeded generator so runs are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
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
