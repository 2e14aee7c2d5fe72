// HandoverCapable: what a provider adopts to be upgraded live (contract 9, make-before-break).
// culvertd starts the new version on the same TUN while the old one still runs, asks the old one
// to prepare (pause and describe its state), gives that state to the new one, and only when the
// new one has confirmed stops the old one with reason `superseded`. If the new one fails, the old
// one is told to resume and nothing changed.
//
//   old version                      culvertd                        new version
//   running ◄── PrepareHandover ──── (new spawned, same TUN) ───────► waiting
//   paused ──── state + sockets ───► ImportHandover(state) ─────────► importHandover → running
//   stopTunnel(superseded) ◄──────── confirmed ◄──────────────────── reply
//   (or) resumeAfterFailedHandover ◄ failed: new killed

/// What the old version hands to the new one: opaque bytes of the provider's own format (keys,
/// counters, the peer's address …) and the sockets the new version carries on with.
public struct HandoverState: Sendable {
    /// The provider's own serialisation; at most a few hundred KiB (it rides in one message).
    public var data: [UInt8]
    /// Sockets to move. In `prepareHandover` the old version keeps its own (culvertd gets copies),
    /// so it can resume; in `importHandover` they belong to the new version.
    public var sockets: [DatagramSocket]

    public init(data: [UInt8] = [], sockets: [DatagramSocket] = []) {
        self.data = data
        self.sockets = sockets
    }
}

/// A provider that can hand its running tunnel to its next version. Declare the `handover`
/// capability in the bundle manifest too; without it culvertd upgrades by stop → start.
///
/// Calls arrive one at a time like every other provider call; `importHandover` replaces
/// `startTunnel` in the new version (the session, options and secrets are set as for StartTunnel).
public protocol HandoverCapable: PacketTunnelProvider {
    /// In the old version: stop reading the TUN and the sockets (the new version will read them) —
    /// unless `pausesDuringHandover` is false —, release nothing, and return the state to move.
    /// When it pauses, `PacketFlow` reads return no packets until `resumeAfterFailedHandover`.
    /// Throwing aborts the upgrade; the tunnel goes on.
    func prepareHandover() async throws -> HandoverState
    /// In the old version: the new one did not take over. Carry on exactly as before.
    func resumeAfterFailedHandover() async
    /// In the new version: take over the tunnel from `state` and return once traffic flows (within
    /// culvertd's start deadline). The network settings are still applied; calling
    /// `setTunnelNetworkSettings` again is allowed. Throwing makes culvertd keep the old version.
    func importHandover(_ state: HandoverState, options: [String: String]) async throws
    /// Whether the old version stops moving packets while the new one takes over (the default).
    /// A provider whose two versions may safely forward at the same time for a moment (no per-packet
    /// counters or nonces in common) returns false and keeps forwarding from `prepareHandover` until
    /// StopTunnel(superseded): the tunnel then passes traffic throughout, even while a new version
    /// that will fail is being tried.
    var pausesDuringHandover: Bool { get }
}

extension HandoverCapable {
    public var pausesDuringHandover: Bool { true }
}

/// Why a handover step failed (the `HandoverFailed` error on the channel).
public enum HandoverError: Error, Sendable, CustomStringConvertible {
    /// The provider does not adopt `HandoverCapable`.
    case unsupported
    /// A descriptor passed with ImportHandover is not an IP socket.
    case notASocket(index: Int)

    public var description: String {
        switch self {
        case .unsupported: return "this provider does not implement handover"
        case .notASocket(let index): return "descriptor \(index) of the handover is not an IP socket"
        }
    }
}
