// StatusReport: the answer to the `status` provider message (`culvertctl message PROFILE status`),
// a JSON object in the spirit of `wg show`: the interface's public key and port, and per peer its
// public key, endpoint, latest handshake, transfer and persistent keepalive; the device's drops by
// reason, whether it is under load now and the cookie replies it sent. Public keys only: no private or preshared key ever reaches this file's output.

import FoundationEssentials
import WireGuardCrypto
import WireGuardDevice

enum StatusReport {
    static func base64(_ key: PublicKey) -> String { Data(key.bytes).base64EncodedString() }

    /// `keepalives`: each peer's persistent keepalive in seconds (0 = off), by public key; `now`:
    /// the device's clock, for whether it is under load.
    static func json(device: WireGuardDevice, listenPort: UInt16?, keepalives: [PublicKey: Int], now: Duration) -> [UInt8] {
        var peers: [Peer] = []
        for key in device.peerKeys {
            guard let statistics = device.statistics(of: key) else { continue }
            var latest = 0
            if let at = statistics.lastHandshakeAt { latest = Int((device.unixTimeAtZero + at).components.seconds) }
            peers.append(
                Peer(
                    publicKey: base64(key), endpoint: device.endpoint(of: key)?.description ?? "", latestHandshake: latest,
                    transferRx: Int(clamping: statistics.receivedBytes), transferTx: Int(clamping: statistics.sentBytes),
                    persistentKeepalive: keepalives[key] ?? 0,
                    handshakesInitiated: Int(clamping: statistics.handshakesInitiated),
                    sessionsDerived: Int(clamping: statistics.sessionsDerived),
                    cookieRepliesReceived: Int(clamping: statistics.cookieRepliesReceived)))
        }
        let report = Report(
            publicKey: base64(device.publicKey), listenPort: Int(listenPort ?? 0), peers: peers,
            dropped: Int(clamping: device.drops.total),
            underLoad: device.isUnderLoad(at: now), cookieRepliesSent: Int(clamping: device.cookieRepliesSent),
            overloadedWindows: Int(clamping: device.handshakeLoad?.overloadedWindows ?? 0),
            drops: Dictionary(
                uniqueKeysWithValues: DropReason.allCases.filter { device.drops[$0] > 0 }.map {
                    (String(describing: $0), Int(clamping: device.drops[$0]))
                }))
        // Sorted keys and compact, as JSONSerialization's `.sortedKeys` wrote it before (slashes escaped too).
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // try?: strings, integers, booleans, arrays and dictionaries of them always encode.
        let data = (try? encoder.encode(report)) ?? Data("{}".utf8)
        return Array(data)
    }

    /// The report's top level (keys are the JSON names).
    struct Report: Encodable {
        let publicKey: String
        let listenPort: Int
        let peers: [Peer]
        let dropped: Int
        let underLoad: Bool
        let cookieRepliesSent: Int
        let overloadedWindows: Int
        let drops: [String: Int]
    }

    /// One peer's entry.
    struct Peer: Encodable {
        let publicKey: String
        let endpoint: String
        let latestHandshake: Int
        let transferRx: Int
        let transferTx: Int
        let persistentKeepalive: Int
        let handshakesInitiated: Int
        let sessionsDerived: Int
        let cookieRepliesReceived: Int
    }
}
