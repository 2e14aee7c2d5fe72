// AllowedIPs: WireGuard's cryptokey routing table (whitepaper §2). Longest-prefix match over a
// binary trie kept in one flat array of nodes (indices, not references), one root per family, so a
// lookup walks at most 32 or 128 nodes and allocates nothing. Outbound: destination → peer. Inbound:
// the inner source address must map back to the peer the packet came from. Hand-written: no
// library here has an LPM table; the trie is rebuilt from the prefix list on removal (configuration
// changes are rare, lookups are per packet).

/// Which peer a prefix routes to; the device uses its peer slot numbers.
public typealias PeerHandle = Int

public struct AllowedIPs: Sendable {
    struct Node: Sendable {
        var zero: Int32 = 0
        var one: Int32 = 0
        var peer: Int32 = -1
    }

    private static let v4Root = 0
    private static let v6Root = 1
    private var nodes: [Node] = [Node(), Node()]
    /// The source of truth: prefix → peer (a prefix belongs to one peer; re-inserting moves it).
    public private(set) var entries: [IPPrefix: PeerHandle] = [:]

    public init() {}

    /// Routes `prefix` to `peer`, taking it from any other peer (as wg(8) does).
    public mutating func insert(_ prefix: IPPrefix, peer: PeerHandle) {
        precondition(peer >= 0 && peer < Int(Int32.max), "peer handles are small non-negative slot numbers")
        entries[prefix] = peer
        add(prefix, peer: peer)
    }

    /// Removes every prefix of `peer`.
    public mutating func removeAll(peer: PeerHandle) {
        entries = entries.filter { $0.value != peer }
        rebuild()
    }

    /// Removes one prefix (whoever holds it).
    public mutating func remove(_ prefix: IPPrefix) {
        guard entries.removeValue(forKey: prefix) != nil else { return }
        rebuild()
    }

    /// The prefixes routed to `peer`, sorted for stable output.
    public func prefixes(of peer: PeerHandle) -> [IPPrefix] {
        entries.filter { $0.value == peer }.map(\.key).sorted {
            ($0.address.family.rawValue, $0.address.high, $0.address.low, $0.length) < (
                $1.address.family.rawValue, $1.address.high, $1.address.low, $1.length
            )
        }
    }

    /// Longest-prefix match: the peer for `address`, or nil.
    public func lookup(_ address: IPAddress) -> PeerHandle? {
        nodes.withUnsafeBufferPointer { nodes in
            var index = address.family == .v4 ? Self.v4Root : Self.v6Root
            var best = nodes[index].peer
            for bit in 0..<address.bitCount {
                let next = address.bit(bit) == 0 ? nodes[index].zero : nodes[index].one
                if next == 0 { break }
                index = Int(next)
                if nodes[index].peer >= 0 { best = nodes[index].peer }
            }
            return best >= 0 ? Int(best) : nil
        }
    }

    /// The peer an inner packet (IPv4 or IPv6 header first) should be sent to; nil when the packet
    /// is not IP, too short, or no prefix covers its destination.
    public func peer(forDestinationOf packet: UnsafeRawBufferPointer) -> PeerHandle? {
        guard let destination = InnerPacket.destination(of: packet) else { return nil }
        return lookup(destination)
    }

    /// The inbound check: whether `packet`'s source address routes back to `peer`.
    public func allows(source packet: UnsafeRawBufferPointer, from peer: PeerHandle) -> Bool {
        guard let source = InnerPacket.source(of: packet) else { return false }
        return lookup(source) == peer
    }

    private mutating func add(_ prefix: IPPrefix, peer: PeerHandle) {
        var index = prefix.address.family == .v4 ? Self.v4Root : Self.v6Root
        for bit in 0..<prefix.length {
            let next = prefix.address.bit(bit) == 0 ? nodes[index].zero : nodes[index].one
            if next != 0 {
                index = Int(next)
                continue
            }
            nodes.append(Node())
            let child = Int32(nodes.count - 1)
            if prefix.address.bit(bit) == 0 { nodes[index].zero = child } else { nodes[index].one = child }
            index = Int(child)
        }
        nodes[index].peer = Int32(peer)
    }

    private mutating func rebuild() {
        nodes = [Node(), Node()]
        for (prefix, peer) in entries { add(prefix, peer: peer) }
    }
}

/// Reading addresses out of an inner IP packet without copying it.
public enum InnerPacket {
    static let ipv4HeaderCount = 20
    static let ipv6HeaderCount = 40

    static func family(of packet: UnsafeRawBufferPointer) -> IPAddress.Family? {
        guard let first = packet.first else { return nil }
        switch first >> 4 {
        case 4 where packet.count >= ipv4HeaderCount: return .v4
        case 6 where packet.count >= ipv6HeaderCount: return .v6
        default: return nil
        }
    }

    public static func source(of packet: UnsafeRawBufferPointer) -> IPAddress? {
        guard let family = family(of: packet) else { return nil }
        return IPAddress(reading: packet, at: family == .v4 ? 12 : 8, family: family)
    }

    public static func destination(of packet: UnsafeRawBufferPointer) -> IPAddress? {
        guard let family = family(of: packet) else { return nil }
        return IPAddress(reading: packet, at: family == .v4 ? 16 : 24, family: family)
    }

    /// The packet's own length from its header (IPv4 total length, IPv6 40 + payload length), so
    /// the padding added before encryption can be cut off; nil when the header is not IP or claims
    /// more bytes than `packet` has.
    public static func length(of packet: UnsafeRawBufferPointer) -> Int? {
        guard let family = family(of: packet) else { return nil }
        let field = Int(packet[family == .v4 ? 2 : 4]) << 8 | Int(packet[family == .v4 ? 3 : 5])
        let total = family == .v4 ? field : ipv6HeaderCount + field
        guard total >= (family == .v4 ? ipv4HeaderCount : ipv6HeaderCount), total <= packet.count else { return nil }
        return total
    }
}
