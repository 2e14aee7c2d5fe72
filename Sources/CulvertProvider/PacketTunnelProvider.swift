// PacketTunnelProvider: what an extension author implements. Modelled on Apple's
// NEPacketTunnelProvider: culvertd starts the provider, asks it to start the tunnel, may pass it
// messages from controlling apps, and asks it to stop. Everything privileged goes through the
// `Tunnel` handle the provider is created with.

/// A packet-tunnel provider. The process's entry point is one line:
///
///     PacketTunnelMain.run(MyProvider.self)
///
/// The methods are called one at a time, in order (a message is not delivered while
/// `startTunnel` runs). `startTunnel` returns once the tunnel carries traffic; throwing fails
/// the connection with the error's description. After `stopTunnel` returns the process exits.
public protocol PacketTunnelProvider: AnyObject, Sendable {
    /// Called once, before anything else, with the handle for this session.
    init(tunnel: Tunnel)
    /// Starts the tunnel with the profile's options. Call `tunnel.setTunnelNetworkSettings`
    /// before returning. Must finish within culvertd's start deadline (default 30 s).
    func startTunnel(options: [String: String]) async throws
    /// Stops the tunnel; release what `startTunnel` set up.
    func stopTunnel(reason: TunnelStopReason) async
    /// A message from a controlling app (`culvertctl message`); the answer goes back to it.
    func handleAppMessage(_ message: [UInt8]) async -> [UInt8]?
}

extension PacketTunnelProvider {
    public func handleAppMessage(_ message: [UInt8]) async -> [UInt8]? { nil }
}

/// Why the tunnel is being stopped.
public enum TunnelStopReason: String, Sendable, Hashable {
    case userRequest = "user_request"
    case superseded
    case providerFailed = "provider_failed"
    case providerCancelled = "provider_cancelled"
    case daemonStopping = "daemon_stopping"
    case profileRemoved = "profile_removed"
    case extensionRemoved = "extension_removed"
    /// culvertd closed the channel without a StopTunnel (it crashed or exited).
    case channelClosed = "channel_closed"
    /// A reason this SDK does not know yet.
    case other = "other"
}
