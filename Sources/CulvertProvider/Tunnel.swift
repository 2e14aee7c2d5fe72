// Tunnel: a provider's handle on its session — the packet flow (fd 3) and the requests it makes
// to culvertd over the channel (fd 4): settings, protect, reasserting, cancel.

import CulvertSystem
import CulvertVarlink
import Dispatch

/// Who the provider runs for, from StartTunnel.
public struct TunnelSessionContext: Sendable, Hashable {
    public var profile: String
    public var session: String
    /// The TUN interface's name.
    public var interface: String
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

    /// The session as the channel describes it (Reattach's reply).
    var contextValue: JSONValue {
        dispatchPrecondition(condition: .onQueue(queue))
        guard let context = storedContext else { return .null }
        return [
            "profile": .string(context.profile), "session": .string(context.session), "interface": .string(context.interface),
            "protocol": .int(1),
        ]
    }

    func begin(context: TunnelSessionContext, secrets: [String: String]) {
        dispatchPrecondition(condition: .onQueue(queue))
        storedContext = context
        storedSecrets = secrets
    }

    /// Applies addresses, routes, MTU and DNS as one transaction; nil removes them. On error
    /// nothing of the new settings is applied.
    public func setTunnelNetworkSettings(_ settings: TunnelNetworkSettings?) async throws(TunnelError) {
        _ = try await request("SetTunnelNetworkSettings", ["settings": settings?.json ?? .null])
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
        _ = try await request("Protect", [:], passing: [copy])
    }

    /// Tells controlling apps the tunnel is recovering (true) or back (false).
    public func setReasserting(_ reasserting: Bool) async throws(TunnelError) {
        _ = try await request("SetReasserting", ["reasserting": .bool(reasserting)])
    }

    /// Gives up: culvertd ends the session (reason provider_cancelled) and then calls `stopTunnel`.
    public func cancelTunnel(error: String?) async {
        _ = try? await request("CancelTunnel", ["error": error.map { .string($0) } ?? .null])  // try?: the session ends either way
    }

    private func request(_ member: String, _ parameters: JSONValue, passing descriptors: [Descriptor] = []) async throws(TunnelError)
        -> JSONValue
    {
        let result: Result<JSONValue, TunnelError> = await withCheckedContinuation { continuation in
            queue.async { [self] in
                channel.call("io.culvert.Provider.\(member)", parameters: parameters, passing: descriptors) { result in
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
        let p = error.parameters
        func text(_ key: String) -> String { p[key]?.stringValue ?? "" }
        switch error.name {
        case "io.culvert.Provider.InvalidSettings":
            self = .invalidSettings(field: text("field"), reason: text("reason"), description: text("description"))
        case "io.culvert.Provider.SettingsFailed": self = .settingsFailed(step: text("step"), description: text("description"))
        case "io.culvert.Provider.ProtectFailed": self = .protectFailed(reason: text("reason"), description: text("description"))
        case "io.culvert.Provider.NotReady": self = .notReady(state: text("state"))
        default: self = .other(name: error.name, description: error.description)
        }
    }
}
