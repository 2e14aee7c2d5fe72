// ProviderSession: io.culvert.Provider's parameters and replies for starting, stopping, messaging
// and re-adopting a provider, and for a live handover — written by one end, read by the other.

import CulvertVarlink

/// Who the provider runs for (`SessionContext`).
public struct SessionContext: WireValue, Hashable {
    /// The channel protocol this build speaks.
    public static let currentProtocol: Int64 = 1

    public var profile: String
    public var session: String
    /// The TUN interface's name (fd 3).
    public var interface: String
    public var protocolVersion: Int64

    public init(profile: String, session: String, interface: String, protocolVersion: Int64 = Self.currentProtocol) {
        self.profile = profile
        self.session = session
        self.interface = interface
        self.protocolVersion = protocolVersion
    }

    enum CodingKeys: String, CodingKey {
        case profile, session, interface
        case protocolVersion = "protocol"
    }
}

/// `StartTunnel(session, options, secrets)`, or with `state` `ImportHandover(…, state)`.
public struct StartTunnelParameters: WireValue, Hashable {
    public var session: SessionContext
    /// The profile's options.
    public var options: [String: String]
    /// The profile's stored secrets.
    public var secrets: [String: String]
    /// For ImportHandover: the base64 state PrepareHandover returned; nil for StartTunnel.
    public var state: String?

    public init(session: SessionContext, options: [String: String], secrets: [String: String], state: String? = nil) {
        self.session = session
        self.options = options
        self.secrets = secrets
        self.state = state
    }

    /// The method these parameters are for.
    public var method: ProviderMethod { state == nil ? .startTunnel : .importHandover }
}

/// `StopTunnel(reason)`.
public struct StopTunnelParameters: WireValue, Hashable {
    /// user_request, superseded, provider_failed, daemon_stopping, profile_removed, extension_removed.
    public var reason: String

    public init(reason: String) {
        self.reason = reason
    }
}

/// `HandleAppMessage(data)`: base64.
public struct HandleAppMessageParameters: WireValue, Hashable {
    public var data: String

    public init(data: String) {
        self.data = data
    }
}

/// `HandleAppMessage`'s reply: base64, or null for no answer.
public struct HandleAppMessageReply: WireValue, Hashable {
    public var data: String?

    public init(data: String?) {
        self.data = data
    }

    // An absent answer is sent as an explicit null.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(data, forKey: .data)
    }
}

/// `Reattach`'s reply. `session` is null when the provider was never started (the interface
/// declares it required; providers have always sent null then).
public struct ReattachReply: WireValue, Hashable {
    public var session: SessionContext?

    public init(session: SessionContext?) {
        self.session = session
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(session, forKey: .session)
    }
}

/// `PrepareHandover`'s reply: the old version's state, base64; its sockets ride as descriptors.
public struct PrepareHandoverReply: WireValue, Hashable {
    public var state: String

    public init(state: String) {
        self.state = state
    }
}
