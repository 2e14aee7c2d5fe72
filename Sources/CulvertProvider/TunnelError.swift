// TunnelError: what the SDK's calls to culvertd can fail with.

/// A request to culvertd failed. Every case carries culvertd's explanation.
public enum TunnelError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The settings were refused before anything was applied. `field` names the value (for example
    /// "ipv4.includedRoutes[1]"), `reason` is a stable code (invalid_prefix, overlaps, wrong_family,
    /// mtu_out_of_range, mtu_too_small_for_ipv6, too_many, invalid_address, full_tunnel_in_use,
    /// requires_full_tunnel).
    case invalidSettings(field: String, reason: String, description: String)
    /// The kernel refused a step; everything was rolled back.
    case settingsFailed(step: String, description: String)
    /// The socket could not be protected.
    case protectFailed(reason: String, description: String)
    /// The call is not possible in the session's state (for example after StopTunnel).
    case notReady(state: String)
    /// The channel to culvertd is gone.
    case channelClosed
    /// Any other error culvertd answered with.
    case other(name: String, description: String)

    public var description: String {
        switch self {
        case .invalidSettings(let field, let reason, let description): return "invalid settings: \(field): \(reason) (\(description))"
        case .settingsFailed(let step, let description): return "applying settings failed at \(step): \(description)"
        case .protectFailed(let reason, let description): return "protect failed (\(reason)): \(description)"
        case .notReady(let state): return "not possible while the session is \(state)"
        case .channelClosed: return "the channel to culvertd is closed"
        case .other(let name, let description): return "\(name): \(description)"
        }
    }
}
