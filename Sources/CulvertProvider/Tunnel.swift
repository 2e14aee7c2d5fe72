// Tunnel: a provider's handle on its session — the packet flow (fd 3) and the requests it makes
// to culvertd over the channel (fd 4): settings, protect, reasserting, cancel.

import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch

/// Who the provider runs for, from StartTunnel.
public struct TunnelSessionContext: Sendable, Hashable {
    public var profile: String
    public var session: String
    /// The TUN interface's name.
    public var interface: String

    init(_ context: SessionContext) {
        profile = context.profile
        session = context.session
        interface = context.interface
    }
}

/// The provider's handle. Thread-safe: its mutable state is confined to the channel's queue.
public final class Tunnel: @unchecked Sendable {  // mutable members are only touched on `queue`
    /// Packets to and from the TUN interface.
    public let packetFlow: PacketFlow
    let queue: DispatchQueue
    /// Replaced when a new culvertd re-adopts the provider after the previous one died.
    var channel: VarlinkPeer
    private var storedSecrets: [String: String] = [:]
    private var storedContext: TunnelSessionContext?

    init(packetFlow: PacketFlow, channel: VarlinkPeer, queue: DispatchQueue) {
        self.packetFlow = packetFlow
        self.channel = channel
        self.queue = queue
    }

    /// The profile's secrets, as stored by culvertd (0600, root) and delivered with StartTunnel.
    public var secrets: [String: String] { queue.sync { storedSecrets } }

    /// The session; nil before StartTunnel.
    public var session: TunnelSessionContext? { queue.sync { storedContext } }

    /// Reattach's reply: the session as the channel describes it.
    var reattachReply: ReattachReply {
        dispatchPrecondition(condition: .onQueue(queue))
        return ReattachReply(
            session: storedContext.map { SessionContext(profile: $0.profile, session: $0.session, interface: $0.interface) })
    }

    func begin(context: TunnelSessionContext, secrets: [String: String]) {
        dispatchPrecondition(condition: .onQueue(queue))
        storedContext = context
        storedSecrets = secrets
    }

    /// Applies addresses, routes, MTU and DNS as one transaction; nil removes them. On error
    /// nothing of the new settings is applied.
    public func setTunnelNetworkSettings(_ settings: TunnelNetworkSettings?) async throws(TunnelError) {
        _ = try await request(.setTunnelNetworkSettings, SetTunnelNetworkSettingsParameters(settings: settings?.wire).jsonValue)
    }

    /// Asks culvertd to mark `socket` so the tunnel's routes never capture it (Android's
    /// `protect`). Required for the socket that carries the tunnel's outer traffic when the
    /// tunnel routes everything.
    public func protect(_ socket: DatagramSocket) async throws(TunnelError) {
        // The channel closes what it sends: give it a duplicate and keep the socket.
        let copy: Descriptor
        do { copy = try socket.descriptor.duplicate() } catch {
            throw .protectFailed(reason: "duplicate_failed", description: error.description)
        }
        _ = try await request(.protect, [:], passing: [copy])
    }

    /// Tells controlling apps the tunnel is recovering (true) or back (false).
    public func setReasserting(_ reasserting: Bool) async throws(TunnelError) {
        _ = try await request(.setReasserting, SetReassertingParameters(reasserting: reasserting).jsonValue)
    }

    /// Gives up: culvertd ends the session (reason provider_cancelled) and then calls `stopTunnel`.
    public func cancelTunnel(error: String?) async {
        _ = try? await request(.cancelTunnel, CancelTunnelParameters(error: error).jsonValue)  // try?: the session ends either way
    }

    private func request(_ method: ProviderMethod, _ parameters: JSONValue, passing descriptors: [Descriptor] = [])
        async throws(TunnelError)
        -> JSONValue
    {
        let result: Result<JSONValue, TunnelError> = await withCheckedContinuation { continuation in
            queue.async { [self] in
                channel.call(method.rawValue, parameters: parameters, passing: descriptors) { result in
                    switch result {
                    case .success(let reply): continuation.resume(returning: .success(reply.parameters))
                    case .failure(.closed): continuation.resume(returning: .failure(.channelClosed))
                    case .failure(.remote(let error)): continuation.resume(returning: .failure(TunnelError(error)))
                    }
                }
            }
        }
        return try result.get()
    }
}

extension TunnelError {
    init(_ error: VarlinkError) {
        switch ProviderError(error) {
        case .invalidSettings(let field, let reason, let description):
            self = .invalidSettings(field: field, reason: reason, description: description)
        case .settingsFailed(let step, let description): self = .settingsFailed(step: step, description: description)
        case .protectFailed(let reason, let description): self = .protectFailed(reason: reason, description: description)
        case .notReady(let state): self = .notReady(state: state)
        case .tunnelFailed, .handoverFailed, .other: self = .other(name: error.name, description: error.description)
        }
    }
}
