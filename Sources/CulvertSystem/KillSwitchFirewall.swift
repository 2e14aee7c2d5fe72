// KillSwitchFirewall: the kill switch's nftables layer, which closes the hole policy routing
// leaves for IPv4 (a flow that names its output device — SO_BINDTODEVICE, IP_UNICAST_IF,
// IP_PKTINFO, ping -I — is sent on that device when the FIB lookup fails). One table, shared by
// every hold like the `unreachable` rule (KillSwitchRules), with the same lifecycle:
//
//   table inet culvert_killswitch {
//     chain output { type filter hook output priority filter; policy accept;
//       meta oiftype loopback accept; meta mark 0x9c43 accept; meta oifkind "tun" accept;
//       meta nfproto ipv4 ip daddr PREFIX accept ...; meta nfproto ipv4 drop } }
//
// Built with libnftnl in the C shim (CCulvert nftables.c), sent here through Syscall on a
// libmnl NETLINK_NETFILTER socket. Replacing is one batch (create table and chain if missing,
// flush the chain, add the rules): the kernel commits it atomically, so an adopted table is
// never absent or empty in between. Hand-written: no Swift library speaks nf_tables.

import CCulvert
import CMnl

/// The kill switch's firewall table: batches, and a socket that applies them.
public enum KillSwitchFirewall {
    /// The table's name (inet family): how culvertd finds its own and nothing else.
    public static let tableName = "culvert_killswitch"
    /// The base chain (hook output, priority filter, policy accept).
    public static let chainName = "output"
    /// Most distinct IPv4 prefixes the chain accepts (one rule each, about 200 bytes).
    public static let maximumAllowedPrefixes = 256
    /// Bytes of one batch: the rules of `maximumAllowedPrefixes` fit, under the default netlink
    /// send buffer (wmem_default, 208 KiB).
    public static let batchCapacity = 128 * 1024
    /// Bytes of one received datagram.
    static let receiveCapacity = 16 * 1024
    /// Most datagrams read for one request before giving up (each carries at least one answer).
    static let maximumReads = maximumAllowedPrefixes + 16

    /// A built batch and how many acks it asks for.
    public struct Batch: Sendable, Equatable {
        public var bytes: [UInt8]
        public var acks: UInt32
    }

    /// The IPv4 prefixes the chain accepts: `allowed`'s IPv4 ones, each once, in order (IPv6
    /// passes the chain; routing alone blocks it, as it has no device fallback).
    public static func ipv4Prefixes(_ allowed: [IPPrefix]) -> [IPPrefix] {
        var seen = Set<IPPrefix>()
        return allowed.filter { $0.family == .ipv4 && seen.insert($0).inserted }
    }

    /// The batch that creates or replaces the table with `allowed`'s IPv4 prefixes accepted.
    public static func replaceBatch(allowed: [IPPrefix], mark: UInt32, sequence: UInt32) throws(SystemError) -> Batch {
        let prefixes = ipv4Prefixes(allowed)
        guard prefixes.count <= maximumAllowedPrefixes else {
            throw SystemError(call: "culvert_nft_build_replace", errno: Syscall.EMSGSIZE)
        }
        let cPrefixes = prefixes.map { prefix in
            culvert_nft_prefix(
                address: (prefix.address.bytes[0], prefix.address.bytes[1], prefix.address.bytes[2], prefix.address.bytes[3]),
                length: UInt8(prefix.length))
        }
        var acks: UInt32 = 0
        let bytes = try build("culvert_nft_build_replace") { buffer in
            tableName.withCString { table in
                chainName.withCString { chain in
                    cPrefixes.withUnsafeBufferPointer { list in
                        var ruleset = culvert_nft_ruleset(
                            table: table, chain: chain, mark: mark, allowed: list.baseAddress, allowed_count: list.count)
                        return culvert_nft_build_replace(buffer.baseAddress, buffer.count, sequence, &ruleset, &acks)
                    }
                }
            }
        }
        return Batch(bytes: bytes, acks: acks)
    }

    /// The batch that deletes the table (its chain and rules with it).
    public static func deleteBatch(sequence: UInt32) throws(SystemError) -> Batch {
        let bytes = try build("culvert_nft_build_delete") { buffer in
            tableName.withCString { culvert_nft_build_delete(buffer.baseAddress, buffer.count, sequence, $0) }
        }
        return Batch(bytes: bytes, acks: 1)
    }

    /// A request for the table (answered by the table and an ack, or ENOENT).
    static func getTableRequest(sequence: UInt32) throws(SystemError) -> [UInt8] {
        try build("culvert_nft_build_get_table") { buffer in
            tableName.withCString { culvert_nft_build_get_table(buffer.baseAddress, buffer.count, sequence, $0) }
        }
    }

    private static func build(_ name: String, _ body: (UnsafeMutableRawBufferPointer) -> Int) throws(SystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: batchCapacity)
        let length = bytes.withUnsafeMutableBytes { body($0) }
        guard length >= 0 else { throw SystemError(call: name, errno: Syscall.currentErrno) }
        return Array(bytes[0..<length])
    }
}

/// A NETLINK_NETFILTER socket that applies KillSwitchFirewall's batches. One per operation: after
/// an error the kernel may still queue answers, which a fresh socket never reads.
public final class KillSwitchFirewallSocket {
    private let mnl: MnlSocket
    private var socket: OpaquePointer { mnl.socket }
    private var sequence: UInt32 = 1

    /// Opens and binds (MnlSocket), with short acks (`mnl_socket_setsockopt`).
    public init() throws(SystemError) {
        mnl = try MnlSocket(protocol: CULVERT_NFT_NETLINK_PROTOCOL)
        // Acks and errors without a copy of the request (a failing batch may report several).
        var on: Int32 = 1
        let socket = mnl.socket
        _ = try Syscall.call("setsockopt") {
            mnl_socket_setsockopt(socket, CULVERT_NFT_NETLINK_CAP_ACK, &on, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Creates the table or replaces its rules, atomically.
    public func replace(allowed: [IPPrefix], mark: UInt32) throws(SystemError) {
        let batch = try KillSwitchFirewall.replaceBatch(allowed: allowed, mark: mark, sequence: nextSequences(256 + allowed.count))
        try exchange(batch.bytes, acks: batch.acks, name: "nf_tables replace")
    }

    /// Deletes the table. Returns false if there was none.
    @discardableResult
    public func delete() throws(SystemError) -> Bool {
        let batch = try KillSwitchFirewall.deleteBatch(sequence: nextSequences(4))
        do throws(SystemError) {
            try exchange(batch.bytes, acks: batch.acks, name: "nf_tables delete")
        } catch {
            if error.errno == Syscall.ENOENT { return false }
            throw error
        }
        return true
    }

    /// Whether the table exists (for adoption and the stale sweep).
    public func exists() throws(SystemError) -> Bool {
        let request = try KillSwitchFirewall.getTableRequest(sequence: nextSequences(1))
        do throws(SystemError) {
            let tables = try exchange(request, acks: 1, name: "nf_tables get table")
            return tables > 0
        } catch {
            if error.errno == Syscall.ENOENT { return false }
            throw error
        }
    }

    private func nextSequences(_ count: Int) -> UInt32 {
        defer { sequence &+= UInt32(count) }
        return sequence
    }

    /// Sends `bytes` and reads answers until `acks` acks or the first error. Returns the number
    /// of NEWTABLE answers seen.
    @discardableResult
    private func exchange(_ bytes: [UInt8], acks expected: UInt32, name: String) throws(SystemError) -> UInt32 {
        _ = try Syscall.withBytes(bytes) { raw throws(SystemError) in
            try Syscall.call("sendmsg") { mnl_socket_sendto(socket, raw.baseAddress, raw.count) }
        }
        var acks: UInt32 = 0
        var tables: UInt32 = 0
        var failure: Int32 = 0
        var buffer = [UInt8](repeating: 0, count: KillSwitchFirewall.receiveCapacity)
        for _ in 0..<KillSwitchFirewall.maximumReads {  // bounded: the kernel answers every message
            let received = try Syscall.withMutableBytes(&buffer) { raw throws(SystemError) in
                try Syscall.call("recvmsg") { mnl_socket_recvfrom(socket, raw.baseAddress, raw.count) }
            }
            let parsed = buffer.withUnsafeBytes { culvert_nft_read_answers($0.baseAddress, received, &acks, &tables, &failure) }
            guard parsed == 0 else { throw SystemError(call: name, errno: Syscall.currentErrno) }
            if failure != 0 { throw SystemError(call: name, errno: failure) }
            if acks >= expected { return tables }
        }
        throw SystemError(call: name, errno: Syscall.EMSGSIZE)
    }
}
