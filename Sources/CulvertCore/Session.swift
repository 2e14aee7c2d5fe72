// Session: one activation of a profile's tunnel as reported on the status channel (contract 7).

/// NEVPNStatus's states, with the names the wire uses.
public enum SessionState: String, Codable, Sendable, Hashable, CaseIterable {
    case disconnected
    case connecting
    case connected
    case reasserting
    case disconnecting
    /// The session can never run again as configured (its profile or extension went away).
    case invalid

    /// A provider process belongs to the session in these states.
    public var isActive: Bool { self == .connecting || self == .connected || self == .reasserting || self == .disconnecting }
}

/// Kernel link counters of the session's TUN interface.
public struct SessionCounters: Codable, Sendable, Hashable {
    public var rxBytes: Int64
    public var rxPackets: Int64
    public var txBytes: Int64
    public var txPackets: Int64

    public init(rxBytes: Int64 = 0, rxPackets: Int64 = 0, txBytes: Int64 = 0, txPackets: Int64 = 0) {
        self.rxBytes = rxBytes
        self.rxPackets = rxPackets
        self.txBytes = txBytes
        self.txPackets = txPackets
    }
}

/// Why a session failed, with what the provider said last. Stable `reason` codes.
public struct SessionFailure: Codable, Sendable, Hashable, Error, CustomStringConvertible {
    public struct Reason: RawRepresentable, Codable, Sendable, Hashable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }

        /// The provider exited on its own (status in `exitStatus`), including status 0 while it should run.
        public static let providerExited = Reason(rawValue: "provider_exited")
        /// The provider was killed by a signal it did not get from culvertd.
        public static let providerCrashed = Reason(rawValue: "provider_crashed")
        /// StartTunnel did not finish within the configured deadline; the provider was killed.
        public static let startTimeout = Reason(rawValue: "start_timeout")
        /// The provider answered StartTunnel with an error.
        public static let startFailed = Reason(rawValue: "start_failed")
        /// The provider gave up (CancelTunnel).
        public static let providerCancelled = Reason(rawValue: "provider_cancelled")
        /// The provider could not be started at all (executable, user, TUN, socketpair).
        public static let spawnFailed = Reason(rawValue: "spawn_failed")
        /// The profile's extension is missing or not enabled.
        public static let extensionNotUsable = Reason(rawValue: "extension_not_usable")
        /// The provider broke the channel protocol or closed it.
        public static let channelFailed = Reason(rawValue: "channel_failed")
        /// The provider broke its channel's contract — more descriptors than a method takes, a
        /// malformed or oversized message —: culvertd closed the channel and killed it at once.
        public static let protocolViolation = Reason(rawValue: "protocol_violation")
        /// A Disconnect arrived before the session was connected.
        public static let disconnected = Reason(rawValue: "disconnected")
    }

    public var reason: Reason
    public var description: String
    public var exitStatus: Int64?
    public var signal: String?
    /// The provider's last output lines, oldest first.
    public var log: [String]

    /// `description` and `log` are clipped to `ProviderTextLimits` (they may come from the provider).
    public init(reason: Reason, description: String, exitStatus: Int64? = nil, signal: String? = nil, log: [String] = []) {
        self.reason = reason
        self.description = description.clipped(toBytes: ProviderTextLimits.maximumReasonBytes)
        self.exitStatus = exitStatus
        self.signal = signal
        self.log = log.suffix(ProviderTextLimits.maximumLogLines).map { $0.clipped(toBytes: ProviderTextLimits.maximumLogLineBytes) }
    }
}

/// A session and its execution context, as `GetStatus`, events and `culvertctl session show` report it.
public struct SessionInfo: Codable, Sendable, Equatable {
    public var profile: String
    public var id: String
    public var state: SessionState
    public var reason: String
    public var extensionIdentifier: String
    public var extensionVersion: String
    public var pid: Int64?
    public var uid: Int64?
    public var connectedBy: Actor?
    public var requestedAt: String
    public var connectedAt: String?
    public var interface: String?
    public var tunnelRemoteAddress: String?
    public var mtu: Int64?
    public var addresses: [String]
    public var routes: [String]
    public var fullTunnel: Bool
    public var dnsServers: [String]
    public var dnsBackend: String?
    public var counters: SessionCounters
    public var restarts: Int64
    public var nextRestartAt: String?
    public var failure: SessionFailure?
    /// The provider's identity, cgroup, limits and refused calls, while one runs.
    public var containment: SessionContainment?
    /// True while the profile's kill switch is held (nil for a profile without one, false once released).
    public var killSwitch: Bool?

    public init(profile: String, id: String, extensionIdentifier: String, extensionVersion: String, requestedAt: String) {
        self.profile = profile
        self.id = id
        self.state = .disconnected
        self.reason = "created"
        self.extensionIdentifier = extensionIdentifier
        self.extensionVersion = extensionVersion
        self.requestedAt = requestedAt
        self.addresses = []
        self.routes = []
        self.fullTunnel = false
        self.dnsServers = []
        self.counters = SessionCounters()
        self.restarts = 0
    }

    enum CodingKeys: String, CodingKey {
        case profile, id, state, reason, pid, uid, connectedBy, requestedAt, connectedAt, interface, tunnelRemoteAddress, mtu
        case addresses, routes, fullTunnel, dnsServers, dnsBackend, counters, restarts, nextRestartAt, failure, containment
        case killSwitch
        case extensionIdentifier = "extension"
        case extensionVersion
    }
}
