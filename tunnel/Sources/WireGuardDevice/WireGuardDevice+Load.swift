// WireGuardDevice, load: what the provider's receive loop needs besides `handshakeLoad` (which the
// cookie gate feeds with every handshake message whose mac1 is valid, setting `underLoad`): a cheap
// test for "this datagram is a handshake message" (four header bytes, so transport data pays
// nothing more), the per-batch budget, and the counter for what a batch holds beyond it.
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

    /// Counts `count` handshake messages the provider did not handle (over its per-batch budget).
    public mutating func shedHandshakes(_ count: Int) {
        guard count > 0 else { return }
        drops.count(.handshakeShed, count)
    }

    /// Whether the device is under load at `now` (what `status` reports): the load decision's
    /// answer, or without one whatever `underLoad` was set to.
    public func isUnderLoad(at now: Duration) -> Bool { handshakeLoad.map { $0.isUnderLoad(at: now) } ?? underLoad }
}
