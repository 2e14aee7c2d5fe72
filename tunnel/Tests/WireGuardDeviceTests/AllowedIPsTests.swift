// AllowedIPs: longest-prefix match across peers, /0, /32, /128, removal, and the inbound source check.
import WireGuardDevice
import XCTest

final class AllowedIPsTests: XCTestCase {
    private func v4(_ text: String) -> IPAddress { IPAddress(v4String: text)! }  // test literals are well-formed
    private func p4(_ text: String) -> IPPrefix { IPPrefix(v4String: text)! }  // test literals are well-formed

    func testLongestPrefixWinsAcrossPeers() {
        var table = AllowedIPs()
        table.insert(p4("10.0.0.0/8"), peer: 1)
        table.insert(p4("10.1.0.0/16"), peer: 2)
        table.insert(p4("10.1.2.3/32"), peer: 3)
        table.insert(p4("0.0.0.0/0"), peer: 4)
        XCTAssertEqual(table.lookup(v4("10.9.9.9")), 1)
        XCTAssertEqual(table.lookup(v4("10.1.9.9")), 2)
        XCTAssertEqual(table.lookup(v4("10.1.2.3")), 3)
        XCTAssertEqual(table.lookup(v4("10.1.2.4")), 2)
        XCTAssertEqual(table.lookup(v4("192.168.1.1")), 4)
        XCTAssertNil(table.lookup(IPAddress(v6High: 0x2001_0db8 << 32, low: 1)), "IPv4 /0 must not cover IPv6")
    }

    func testHostBitsClearedAndReinsertMovesPrefix() {
        var table = AllowedIPs()
        table.insert(p4("10.1.2.3/24"), peer: 1)
        XCTAssertEqual(table.prefixes(of: 1), [p4("10.1.2.0/24")])
        table.insert(p4("10.1.2.0/24"), peer: 2)
        XCTAssertEqual(table.prefixes(of: 1), [])
        XCTAssertEqual(table.lookup(v4("10.1.2.200")), 2)
        XCTAssertNil(IPPrefix(v4("1.2.3.4"), 33))
        XCTAssertNil(IPPrefix(v4String: "1.2.3/8"))
    }

    func testIPv6SlashZeroAnd128() {
        var table = AllowedIPs()
        let host = IPAddress(v6High: 0xfd00_0000_0000_0001, low: 0x0000_0000_0000_0042)
        table.insert(IPPrefix(IPAddress(v6High: 0, low: 0), 0)!, peer: 7)  // /0 is valid
        table.insert(IPPrefix(host, 128)!, peer: 8)  // /128 is valid
        table.insert(IPPrefix(host, 64)!, peer: 9)  // /64 is valid
        XCTAssertEqual(table.lookup(host), 8)
        XCTAssertEqual(table.lookup(IPAddress(v6High: 0xfd00_0000_0000_0001, low: 0x43)), 9)
        XCTAssertEqual(table.lookup(IPAddress(v6High: 0xfd00_0000_0000_0002, low: 0x42)), 7)
        XCTAssertNil(table.lookup(v4("1.1.1.1")))
    }

    func testRemovalFallsBackToShorterPrefix() {
        var table = AllowedIPs()
        table.insert(p4("10.0.0.0/8"), peer: 1)
        table.insert(p4("10.1.0.0/16"), peer: 2)
        table.insert(p4("172.16.0.0/12"), peer: 2)
        table.removeAll(peer: 2)
        XCTAssertEqual(table.lookup(v4("10.1.2.3")), 1)
        XCTAssertNil(table.lookup(v4("172.16.0.1")))
        table.remove(p4("10.0.0.0/8"))
        XCTAssertNil(table.lookup(v4("10.1.2.3")))
        XCTAssertTrue(table.entries.isEmpty)
    }

    func testPacketChecks() {
        var table = AllowedIPs()
        table.insert(p4("10.0.0.2/32"), peer: 1)
        table.insert(p4("10.0.1.0/24"), peer: 2)
        let packet = TestPackets.ipv4(source: v4("10.0.0.2"), destination: v4("10.0.1.9"), payloadCount: 8)
        packet.withUnsafeBytes { raw in
            XCTAssertEqual(table.peer(forDestinationOf: raw), 2)
            XCTAssertTrue(table.allows(source: raw, from: 1))
            XCTAssertFalse(table.allows(source: raw, from: 2), "spoofed source from another peer")
            XCTAssertEqual(InnerPacket.length(of: raw), 28)
        }
        let short: [UInt8] = [0x45, 0, 0]
        short.withUnsafeBytes { raw in
            XCTAssertNil(table.peer(forDestinationOf: raw))
            XCTAssertFalse(table.allows(source: raw, from: 1))
        }
        let notIP = [UInt8](repeating: 0x15, count: 60)
        notIP.withUnsafeBytes { XCTAssertNil(InnerPacket.source(of: $0)) }
    }
}
