// DeviceHandoverState: a WireGuardDevice's running state as the typed records of the handover
// blob, and their byte format (version 1, little-endian, see docs/ARCHITECTURE.md, "Handover: a live upgrade without a handshake"). Every time
// is an offset in nanoseconds from the exporting process's "now"; the importer adds its own "now"
// (each process's monotonic clock has its own zero). Decoding checks sizes, flags and ranges
// only; WireGuardDevice+Handover checks the records against the device. Hand-written: the format
// is ours. The records hold session keys: never log, print or persist them.
import WireGuardCrypto
import WireGuardProtocol

public struct DeviceHandoverState: Sendable {
    /// "CWGH".
    static let magic: UInt32 = 0x4847_5743
    /// The format version written and the only one read.
    public static let version: UInt16 = 1
    /// Most peers a state may hold (WireGuardConfig's maximumPeers).
    public static let maximumPeers = 256
    /// Largest blob accepted: 256 peers with three sessions each fit in about 0.9 MiB.
    public static let maximumByteCount = 1 << 20
    /// Ring blocks of a replay window, as ReplayWindow keeps them.
    static let replayBlocks = Int(ReplayWindow.ringBlocks)
    /// Times further than this from "now" (either way) are refused: no real state has them, and
    /// the bound keeps the importer's `now + offset` far from overflow.
    static let maximumOffsetNanoseconds: Int64 = 10 * 365 * 86_400 * 1_000_000_000

    struct KeypairRecord {
        var sendingKey: SecretKey
        var receivingKey: SecretKey
        var sendCounter: UInt64
        var replayGreatest: UInt64
        var replayBlocks: [UInt64]
        var localIndex: UInt32
        var remoteIndex: UInt32
        var isInitiator: Bool
        var createdAt: Int64
    }

    struct PeerRecord {
        var publicKey: PublicKey
        var endpoint: Endpoint?
        var latestTimestamp: TAI64N?
        var lastInitiationConsumedAt: Int64?
        var cookie: CookieGenerator.HandoverCookie
        var cookieSetAt: Int64
        var handshakeAttempts: UInt32
        var lastInitiationSentAt: Int64?
        var statistics: PeerStatistics
        var lastHandshakeAt: Int64?
        var retransmitHandshakeAt: Int64?
        var sendKeepaliveAt: Int64?
        var needAnotherKeepalive: Bool
        var newHandshakeAt: Int64?
        var zeroKeysAt: Int64?
        var persistentKeepaliveAt: Int64?
        var sentLastMinuteHandshake: Bool
        /// current, previous, next.
        var keypairs: [KeypairRecord?]
    }

    var interfaceKey: PublicKey
    var cookieSecret: SecretKey?
    var cookieSecretSetAt: Int64
    var drops: [UInt64]
    var peers: [PeerRecord]

    // MARK: - Encoding

    func encoded() -> [UInt8] {
        var out = HandoverWriter()
        out.u32(Self.magic)
        out.u16(Self.version)
        out.raw(interfaceKey.bytes)
        out.bool(cookieSecret != nil)
        if let cookieSecret { cookieSecret.withUnsafeBytes { out.raw($0) } }
        out.i64(cookieSecretSetAt)
        out.u16(UInt16(drops.count))
        for count in drops { out.u64(count) }
        out.u16(UInt16(peers.count))
        for peer in peers { Self.encode(peer, into: &out) }
        return out.bytes
    }

    private static func encode(_ peer: PeerRecord, into out: inout HandoverWriter) {
        out.raw(peer.publicKey.bytes)
        out.u8(peer.endpoint.map { $0.address.family.rawValue } ?? 0)
        if let endpoint = peer.endpoint {
            out.u64(endpoint.address.high)
            out.u64(endpoint.address.low)
            out.u16(endpoint.port)
        }
        out.bool(peer.latestTimestamp != nil)
        if let timestamp = peer.latestTimestamp {
            out.u64(timestamp.seconds)
            out.u32(timestamp.nanoseconds)
        }
        out.offset(peer.lastInitiationConsumedAt)
        for mac in [peer.cookie.lastMAC1, peer.cookie.cookie] {
            out.bool(mac != nil)
            if let mac { out.raw(mac.bytes) }
        }
        out.i64(peer.cookieSetAt)
        out.u32(peer.handshakeAttempts)
        out.offset(peer.lastInitiationSentAt)
        let statistics = peer.statistics
        for value in [statistics.receivedBytes, statistics.sentBytes, statistics.keepalivesSent, statistics.keepalivesReceived] {
            out.u64(value)
        }
        out.u64(statistics.handshakesInitiated)
        out.u64(statistics.sessionsDerived)
        out.u64(statistics.cookieRepliesReceived)
        out.offset(peer.lastHandshakeAt)
        out.offset(peer.retransmitHandshakeAt)
        out.offset(peer.sendKeepaliveAt)
        out.bool(peer.needAnotherKeepalive)
        out.offset(peer.newHandshakeAt)
        out.offset(peer.zeroKeysAt)
        out.offset(peer.persistentKeepaliveAt)
        out.bool(peer.sentLastMinuteHandshake)
        for keypair in peer.keypairs {
            out.bool(keypair != nil)
            guard let keypair else { continue }
            keypair.sendingKey.withUnsafeBytes { out.raw($0) }
            keypair.receivingKey.withUnsafeBytes { out.raw($0) }
            out.u64(keypair.sendCounter)
            out.u64(keypair.replayGreatest)
            for block in keypair.replayBlocks { out.u64(block) }
            out.u32(keypair.localIndex)
            out.u32(keypair.remoteIndex)
            out.bool(keypair.isInitiator)
            out.i64(keypair.createdAt)
        }
    }

    // MARK: - Decoding

    /// Parses `bytes`; refuses anything but exactly one well-formed version-1 state.
    static func decode(_ bytes: [UInt8]) throws(DeviceHandoverError) -> DeviceHandoverState {
        guard bytes.count <= maximumByteCount else { throw .tooLarge(count: bytes.count, maximum: maximumByteCount) }
        var reader = HandoverReader(bytes)
        guard bytes.count >= 4, try reader.u32() == magic else { throw .notAHandoverState }
        let version = try reader.u16()
        guard version == Self.version else { throw .unsupportedVersion(version) }
        let interfaceKey = try publicKey(&reader)
        var cookieSecret: SecretKey?
        if try reader.bool("cookieSecret") { cookieSecret = try secret(&reader) }
        let cookieSecretSetAt = try bounded(&reader, "cookieSecretSetAt")
        let dropCount = Int(try reader.u16())
        guard dropCount <= DropReason.allCases.count else { throw .tooManyPeers(count: dropCount, maximum: DropReason.allCases.count) }
        var drops: [UInt64] = []
        for _ in 0..<dropCount { drops.append(try reader.u64()) }
        let peerCount = Int(try reader.u16())
        guard peerCount <= maximumPeers else { throw .tooManyPeers(count: peerCount, maximum: maximumPeers) }
        var peers: [PeerRecord] = []
        for _ in 0..<peerCount { peers.append(try decodePeer(&reader)) }
        guard reader.remaining == 0 else { throw .trailingBytes(count: reader.remaining) }
        return DeviceHandoverState(
            interfaceKey: interfaceKey, cookieSecret: cookieSecret, cookieSecretSetAt: cookieSecretSetAt, drops: drops, peers: peers)
    }

    private static func decodePeer(_ reader: inout HandoverReader) throws(DeviceHandoverError) -> PeerRecord {
        let key = try publicKey(&reader)
        var endpoint: Endpoint?
        let familyAt = reader.position
        switch try reader.u8() {
        case 0: break
        case IPAddress.Family.v4.rawValue:
            let high = try reader.u64()
            guard high & 0xffff_ffff == 0, try reader.u64() == 0 else { throw .invalidField("endpoint", at: familyAt) }
            endpoint = Endpoint(address: IPAddress(v4: UInt32(high >> 32)), port: try reader.u16())
        case IPAddress.Family.v6.rawValue:
            let high = try reader.u64()
            endpoint = Endpoint(address: IPAddress(v6High: high, low: try reader.u64()), port: try reader.u16())
        default: throw .invalidField("endpoint", at: familyAt)
        }
        var timestamp: TAI64N?
        if try reader.bool("latestTimestamp") {
            let seconds = try reader.u64()
            let nanosecondsAt = reader.position
            let nanoseconds = try reader.u32()
            guard nanoseconds < 1_000_000_000 else { throw .invalidField("latestTimestamp", at: nanosecondsAt) }
            timestamp = TAI64N(seconds: seconds, nanoseconds: nanoseconds)
        }
        let consumedAt = try reader.offset("lastInitiationConsumedAt")
        var cookie = CookieGenerator.HandoverCookie()
        if try reader.bool("lastMAC1") { cookie.lastMAC1 = try mac(&reader) }
        if try reader.bool("cookie") { cookie.cookie = try mac(&reader) }
        let cookieSetAt = try bounded(&reader, "cookieSetAt")
        let attempts = try reader.u32()
        let sentAt = try reader.offset("lastInitiationSentAt")
        var statistics = PeerStatistics()
        statistics.receivedBytes = try reader.u64()
        statistics.sentBytes = try reader.u64()
        statistics.keepalivesSent = try reader.u64()
        statistics.keepalivesReceived = try reader.u64()
        statistics.handshakesInitiated = try reader.u64()
        statistics.sessionsDerived = try reader.u64()
        statistics.cookieRepliesReceived = try reader.u64()
        let lastHandshakeAt = try reader.offset("lastHandshakeAt")
        let retransmitAt = try reader.offset("retransmitHandshakeAt")
        let keepaliveAt = try reader.offset("sendKeepaliveAt")
        let another = try reader.bool("needAnotherKeepalive")
        let newHandshakeAt = try reader.offset("newHandshakeAt")
        let zeroKeysAt = try reader.offset("zeroKeysAt")
        let persistentAt = try reader.offset("persistentKeepaliveAt")
        let lastMinute = try reader.bool("sentLastMinuteHandshake")
        var keypairs: [KeypairRecord?] = []
        for _ in 0..<3 { keypairs.append(try reader.bool("keypair") ? try decodeKeypair(&reader) : nil) }
        return PeerRecord(
            publicKey: key, endpoint: endpoint, latestTimestamp: timestamp, lastInitiationConsumedAt: consumedAt, cookie: cookie,
            cookieSetAt: cookieSetAt, handshakeAttempts: attempts, lastInitiationSentAt: sentAt, statistics: statistics,
            lastHandshakeAt: lastHandshakeAt, retransmitHandshakeAt: retransmitAt, sendKeepaliveAt: keepaliveAt,
            needAnotherKeepalive: another, newHandshakeAt: newHandshakeAt, zeroKeysAt: zeroKeysAt, persistentKeepaliveAt: persistentAt,
            sentLastMinuteHandshake: lastMinute, keypairs: keypairs)
    }

    private static func decodeKeypair(_ reader: inout HandoverReader) throws(DeviceHandoverError) -> KeypairRecord {
        let sending = try secret(&reader)
        let receiving = try secret(&reader)
        let counter = try reader.u64()
        let greatest = try reader.u64()
        var blocks: [UInt64] = []
        blocks.reserveCapacity(replayBlocks)
        for _ in 0..<replayBlocks { blocks.append(try reader.u64()) }
        let local = try reader.u32()
        let remote = try reader.u32()
        let initiator = try reader.bool("isInitiator")
        let created = try bounded(&reader, "createdAt")
        return KeypairRecord(
            sendingKey: sending, receivingKey: receiving, sendCounter: counter, replayGreatest: greatest, replayBlocks: blocks,
            localIndex: local, remoteIndex: remote, isInitiator: initiator, createdAt: created)
    }

    private static func bounded(_ reader: inout HandoverReader, _ field: String) throws(DeviceHandoverError) -> Int64 {
        let start = reader.position
        let value = try reader.i64()
        guard value.magnitude <= maximumOffsetNanoseconds.magnitude else { throw .invalidField(field, at: start) }
        return value
    }

    private static func publicKey(_ reader: inout HandoverReader) throws(DeviceHandoverError) -> PublicKey {
        let start = reader.position
        let bytes = try reader.take(PublicKey.byteCount)
        do throws(CryptoError) { return try PublicKey(bytes: bytes) } catch { throw .invalidField("publicKey", at: start) }
    }

    private static func secret(_ reader: inout HandoverReader) throws(DeviceHandoverError) -> SecretKey {
        let start = reader.position
        let bytes = try reader.take(SecretKey.byteCount)
        do throws(CryptoError) { return try SecretKey(bytes: bytes) } catch { throw .invalidField("key", at: start) }
    }

    private static func mac(_ reader: inout HandoverReader) throws(DeviceHandoverError) -> MAC16 {
        let start = reader.position
        let bytes = try reader.take(MAC16.byteCount)
        let copied = Array(bytes).withUnsafeBytes { raw in Result { () throws(CryptoError) in try MAC16(copying: raw) } }
        guard case .success(let mac) = copied else { throw .invalidField("mac", at: start) }
        return mac
    }
}
