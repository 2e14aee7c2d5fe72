// KillSwitchFirewall: the batches libnftnl builds (message types, flags, sequence numbers, the
// acks asked for, the IPv4 prefixes deduplicated, too many refused) and, in a private network
// namespace, the table's lifecycle against the kernel: absent, created, replaced in place,
// deleted, and deleting or asking for an absent one.

import CulvertSystem
import XCTest

final class KillSwitchFirewallTests: XCTestCase {
    /// nfnetlink message types: batch edges, and nf_tables' (subsystem 10) by NFT_MSG_*.
    static let batchBegin: UInt16 = 0x10
    static let batchEnd: UInt16 = 0x11
    static func nftables(_ message: UInt16) -> UInt16 { 10 << 8 | message }
    static let newTable = nftables(0)
    static let deleteTable = nftables(2)
    static let newChain = nftables(3)
    static let newRule = nftables(6)
    static let deleteRule = nftables(8)
    /// NLM_F_ACK.
    static let ackFlag: UInt16 = 4

    struct Header: Equatable {
        var type: UInt16
        var flags: UInt16
        var sequence: UInt32
        var family: UInt8
    }

    /// The netlink headers of `bytes`, in order; fails on a length that runs past the end.
    static func headers(_ bytes: [UInt8]) throws -> [Header] {
        var headers: [Header] = []
        var offset = 0
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
        while offset < bytes.count {
            let length = Int(u32(offset))
            guard length >= 20, offset + length <= bytes.count else { throw SystemError(call: "parse", errno: Syscall.EINVAL) }
            headers.append(Header(type: u16(offset + 4), flags: u16(offset + 6), sequence: u32(offset + 8), family: bytes[offset + 16]))
            offset += (length + 3) & ~3
        }
        return headers
    }

    private static func prefixes(_ texts: String...) throws -> [IPPrefix] { try texts.map { try IPPrefix($0) } }

    func testReplaceIsOneBatchThatCreatesFlushesAndAddsOneRulePerDistinctIPv4Prefix() throws {
        let allowed = try Self.prefixes("10.0.0.0/8", "fd00::/8", "10.0.0.0/8", "192.168.1.0/24", "0.0.0.0/0")
        XCTAssertEqual(KillSwitchFirewall.ipv4Prefixes(allowed), try Self.prefixes("10.0.0.0/8", "192.168.1.0/24", "0.0.0.0/0"))
        let batch = try KillSwitchFirewall.replaceBatch(allowed: allowed, mark: KillSwitchRules.protectedMark, sequence: 100)
        let headers = try Self.headers(batch.bytes)
        // loopback, mark, TUN, three prefixes, the IPv4 drop
        let rules = [UInt16](repeating: Self.newRule, count: 7)
        XCTAssertEqual(
            headers.map(\.type), [Self.batchBegin, Self.newTable, Self.newChain, Self.deleteRule] + rules + [Self.batchEnd])
        XCTAssertEqual(headers.map(\.sequence), Array(100..<UInt32(100 + headers.count)), "consecutive sequence numbers")
        let inner = headers.dropFirst().dropLast()
        XCTAssertEqual(batch.acks, 1, "one ack: the last message's, sent once the batch is committed")
        XCTAssertEqual(inner.map { $0.flags & Self.ackFlag != 0 }, inner.indices.map { $0 == inner.endIndex - 1 })
        XCTAssertTrue(inner.allSatisfy { $0.family == 1 }, "NFPROTO_INET")
        XCTAssertFalse(headers.first.map { $0.flags & Self.ackFlag != 0 } ?? true, "the batch edges ask for nothing")
        let text = String(decoding: batch.bytes.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        XCTAssertTrue(text.contains(KillSwitchFirewall.tableName + " "), "the table named by its constant")
        XCTAssertTrue(text.contains("tun "), "oifkind tun, NUL-terminated")
    }

    func testNoPrefixesStillDropsIPv4AndTooManyAreRefused() throws {
        let empty = try KillSwitchFirewall.replaceBatch(allowed: [], mark: 1, sequence: 1)
        XCTAssertEqual(try Self.headers(empty.bytes).filter { $0.type == Self.newRule }.count, 4)
        let many = try (0..<(KillSwitchFirewall.maximumAllowedPrefixes + 1)).map { try IPPrefix("10.\($0 / 256).\($0 % 256).0/24") }
        XCTAssertThrowsError(try KillSwitchFirewall.replaceBatch(allowed: many, mark: 1, sequence: 1))
        let most = Array(many.dropLast())
        let batch = try KillSwitchFirewall.replaceBatch(allowed: most, mark: 1, sequence: 1)
        XCTAssertLessThanOrEqual(batch.bytes.count, KillSwitchFirewall.batchCapacity)
        XCTAssertEqual(try Self.headers(batch.bytes).filter { $0.type == Self.newRule }.count, most.count + 4)
    }

    func testDeleteIsOneBatchWithOneMessage() throws {
        let batch = try KillSwitchFirewall.deleteBatch(sequence: 7)
        XCTAssertEqual(try Self.headers(batch.bytes).map(\.type), [Self.batchBegin, Self.deleteTable, Self.batchEnd])
        XCTAssertEqual(batch.acks, 1)
    }

    /// Against the kernel, in a private namespace: absent → replaced (created) → replaced again
    /// (in place, then with the most prefixes) → deleted → absent; deleting an absent table says so.
    func testTheTableLivesFromReplaceToDelete() {
        withPrivateNetworkNamespace { _ in
            let allowed = try Self.prefixes("192.168.1.0/24")
            var steps: [String] = []
            func note(_ label: String) throws { steps.append("\(label): \(try KillSwitchFirewallSocket().exists())") }
            try note("start")
            steps.append("delete absent: \(try KillSwitchFirewallSocket().delete())")
            try KillSwitchFirewallSocket().replace(allowed: allowed, mark: KillSwitchRules.protectedMark)
            try note("replaced")
            try KillSwitchFirewallSocket().replace(allowed: [], mark: KillSwitchRules.protectedMark)
            try note("replaced again")
            // The largest batch the limit allows goes through one send.
            let most = try (0..<KillSwitchFirewall.maximumAllowedPrefixes).map { try IPPrefix("10.\($0 / 256).\($0 % 256).0/24") }
            try KillSwitchFirewallSocket().replace(allowed: most, mark: KillSwitchRules.protectedMark)
            try note("replaced with the most prefixes")
            steps.append("delete: \(try KillSwitchFirewallSocket().delete())")
            try note("deleted")
            XCTAssertEqual(
                steps,
                [
                    "start: false", "delete absent: false", "replaced: true", "replaced again: true",
                    "replaced with the most prefixes: true", "delete: true", "deleted: false",
                ])
        }
    }

    /// In a private namespace with a veth pair (permanent neighbours, no IPv6 address: every packet
    /// routed to it is counted as sent, and nothing else is; this kernel has no dummy links):
    /// while the table exists, IPv4 that would leave is refused (EPERM) and not sent, except to an
    /// exception or from a marked socket; loopback is untouched; after the delete it leaves again.
    func testTheChainDropsLeavingIPv4ExceptExceptionsAndTheMark() {
        withPrivateNetworkNamespace { namespace in
            try namespace.run("ip link set dev lo up")
            try namespace.run("ip link add culnf0 type veth peer name culnf1")
            for device in ["culnf0", "culnf1"] {
                try namespace.run("ip link set dev \(device) addrgenmode none")
                try namespace.run("ip link set dev \(device) up")
            }
            try namespace.run("ip -4 address add 192.0.2.1/24 dev culnf0")
            try namespace.run("ip -4 route add 198.51.100.0/24 dev culnf0")
            for neighbour in ["192.0.2.7", "198.51.100.7"] {
                try namespace.run("ip neigh add \(neighbour) lladdr 02:00:00:00:00:07 dev culnf0 nud permanent")
            }
            func transmitted() throws -> Int {
                let link = try namespace.objects("-s", "link", "show", "dev", "culnf0").first
                let tx = (link?["stats64"] as? [String: Any])?["tx"] as? [String: Any]
                return try XCTUnwrap(tx?["packets"] as? Int)
            }
            func send(_ address: String, mark: UInt32? = nil) throws -> String {
                let before = try transmitted()
                let socket = try DatagramSocket.open(.ipv4)
                defer { socket.close() }
                if let mark { try socket.setFirewallMark(mark) }
                let destination = IPEndpoint(address: try IPAddress(address), port: 9)
                var outcome = "sent"
                do throws(SystemError) { _ = try socket.send([1], to: destination) } catch {
                    outcome = error.errno == Syscall.EPERM ? "refused" : "\(error)"
                }
                return "\(address)\(mark.map { " mark \($0)" } ?? ""): \(outcome), \(try transmitted() - before) left"
            }
            var lines = [try send("192.0.2.7")]
            try KillSwitchFirewallSocket().replace(allowed: try Self.prefixes("198.51.100.0/24"), mark: KillSwitchRules.protectedMark)
            lines += [
                try send("192.0.2.7"), try send("198.51.100.7"), try send("192.0.2.7", mark: KillSwitchRules.protectedMark),
                try send("192.0.2.7", mark: 1), try send("127.0.0.1"), try send("192.0.2.1"),
            ]
            try KillSwitchFirewallSocket().delete()
            lines.append(try send("192.0.2.7"))
            XCTAssertEqual(
                lines,
                [
                    "192.0.2.7: sent, 1 left",
                    "192.0.2.7: refused, 0 left", "198.51.100.7: sent, 1 left", "192.0.2.7 mark 40003: sent, 1 left",
                    "192.0.2.7 mark 1: refused, 0 left", "127.0.0.1: sent, 0 left", "192.0.2.1: sent, 0 left",
                    "192.0.2.7: sent, 1 left",
                ])
        }
    }
}
