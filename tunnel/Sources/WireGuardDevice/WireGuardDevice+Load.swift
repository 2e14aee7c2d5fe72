// WireGuardDevice, load: the provider tells the device how many handshake messages a receive batch
// holds (before handling them), the device's HandshakeLoad decides whether it is under load and sets
// `underLoad`, which makes the cookie gate answer messages without a current mac2 with a cookie
// reply. What a batch holds beyond the provider's budget is shed and counted here. Nothing here is
// on the transport-data path: the classification reads four header bytes, once per datagram.
import WireGuardProtocol

extension WireGuardDevice {
    /// Handshake messages (initiations and responses: the ones that cost Diffie-Hellman work) a
    /// provider hands to `beginReceive` per receive batch; the rest are shed (`shedHandshakes`).
    /// Under load each costs a mac1 check and a cookie reply; otherwise up to four X25519.
    public static let maximumHandshakesPerBatch = 16

    /// Whether `datagram` looks like an initiation or a response (its type word only: the message
    /// itself is checked when it is handled).
    public static func isHandshakeMessage(_ datagram: UnsafeRawBufferPointer) -> Bool {
        guard datagram.count >= 4, datagram[1] == 0, datagram[2] == 0, datagram[3] == 0 else { return false }
        return datagram[0] == MessageType.initiation.rawValue || datagram[0] == MessageType.response.rawValue
    }

    /// Counts `count` handshake messages received at `now` (call before handling them) and sets
    /// `underLoad` from the load decision.
    public mutating func recordHandshakes(_ count: Int, now: Duration) {
        underLoad = handshakeLoad.record(handshakes: count, now: now)
    }

    /// Counts `count` handshake messages the provider did not handle (over its per-batch budget).
    public mutating func shedHandshakes(_ count: Int) {
        guard count > 0 else { return }
        drops.count(.handshakeShed, count)
    }

    /// Whether the load decision holds the device under load at `now` (what `status` reports).
    public func isUnderLoad(at now: Duration) -> Bool { handshakeLoad.isUnderLoad(at: now) }
}
