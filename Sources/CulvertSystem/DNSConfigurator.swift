// DNSConfigurator: applies a tunnel's DNS when it comes up and reverts it on disconnect, through
// systemd-resolved when it runs and by replacing resolv.conf otherwise. Called by culvertd (root)
// on its manager queue; every call is synchronous and bounded (resolvectl is killed after
// `resolvectlTimeout`).
//
//   apply ──► AppliedDNS ──► revert ──► DNSRevertOutcome
//                 │ (file backend: also persisted in the state directory)
//   daemon restart ──► pendingRevert ──► revert (or keep, if the session was re-adopted)
//
// The backends live in DNSConfigurator+Resolved.swift and DNSConfigurator+ResolvConf.swift.

/// Where a tunnel's DNS goes.
public enum DNSBackend: Sendable, Hashable, CustomStringConvertible {
    /// systemd-resolved, per link, through the `resolvectl` at this absolute path.
    case resolved(resolvectl: String)
    /// A resolv.conf file replaced while the tunnel is up.
    case file(path: String)

    /// resolved's varlink socket; present and accepting connections exactly while resolved runs.
    public static let resolvedSocketPath = "/run/systemd/resolve/io.systemd.Resolve"
    /// Where `resolvectl` is looked for, in order. Never through PATH.
    public static let resolvectlLocations = ["/usr/bin/resolvectl", "/bin/resolvectl"]
    /// culvertd's default for `--resolv-conf`.
    public static let defaultResolvConfPath = "/etc/resolv.conf"

    /// `.resolved` if systemd-resolved is running and `resolvectl` is installed, else `.file(resolvConfPath)`.
    /// "Running" is decided by connecting to resolved's varlink socket (systemd 246+): one connect
    /// and close, no D-Bus, and a socket file left behind by a stopped resolved refuses the
    /// connection. The directory /run/systemd/resolve alone is not enough: it outlives resolved.
    public static func detect(
        resolvConfPath: String = defaultResolvConfPath, resolvedSocketPath: String = resolvedSocketPath,
        resolvectlLocations: [String] = resolvectlLocations
    ) -> DNSBackend {
        guard let resolvectl = resolvectlLocations.first(where: isExecutableFile) else { return .file(path: resolvConfPath) }
        guard let socket = try? UnixSocket.connect(path: resolvedSocketPath, nonblocking: false) else {
            return .file(path: resolvConfPath)  // try?: any failure to connect means "not running"
        }
        socket.close()
        return .resolved(resolvectl: resolvectl)
    }

    public var description: String {
        switch self {
        case .resolved: return "systemd-resolved"
        case .file(let path): return path
        }
    }

    private static func isExecutableFile(_ path: String) -> Bool {
        // try?: an unreadable candidate is as good as a missing one.
        guard let status = try? FileSystem.status(of: path) else { return false }
        return status.kind == .regular && status.isExecutable
    }
}

/// What `apply` did, for `revert` and for status display.
public struct AppliedDNS: Sendable, Hashable {
    public let backend: DNSBackend
    public let interfaceName: String
    public let session: String
    public let settings: TunnelDNSSettings
    public let fullTunnel: Bool

    public init(backend: DNSBackend, interfaceName: String, session: String, settings: TunnelDNSSettings, fullTunnel: Bool) {
        self.backend = backend
        self.interfaceName = interfaceName
        self.session = session
        self.settings = settings
        self.fullTunnel = fullTunnel
    }

    /// True when only names under `settings.matchDomains` go to the tunnel's servers. Only
    /// systemd-resolved can do this; with a resolv.conf the servers answer everything.
    public var isSplit: Bool {
        if case .resolved = backend { return !settings.matchDomains.isEmpty }
        return false
    }
}

/// Applies and reverts tunnel DNS. Holds no mutable state: what was done is in the `AppliedDNS`
/// the caller keeps and, for the file backend, in a backup record under `stateDirectory`.
///
/// Sessions: systemd-resolved keeps DNS per link, so any number of tunnels apply independently.
/// resolv.conf is one global file, so the file backend has one owner at a time: a second session
/// gets `DNSError.dnsInUse(by:)` until the first reverts (a stack would let an older session's
/// revert pull DNS from under a newer one, and a crash would leave a chain to untangle).
public final class DNSConfigurator: Sendable {
    /// How long one resolvectl call may take before it is killed and apply fails.
    public static let resolvectlTimeout: Duration = .seconds(10)

    /// Where new settings go. `revert` uses the backend recorded in its `AppliedDNS` instead.
    public let backend: DNSBackend
    /// Root-only directory for the resolv.conf backup record (e.g. `<state-dir>/dns`); created on demand.
    public let stateDirectory: String
    let timeout: Duration

    public init(backend: DNSBackend, stateDirectory: String, resolvectlTimeout: Duration = DNSConfigurator.resolvectlTimeout) {
        self.backend = backend
        self.stateDirectory = stateDirectory
        self.timeout = resolvectlTimeout
    }

    /// Detects the backend with `DNSBackend.detect(resolvConfPath:)`.
    public convenience init(detectingWith resolvConfPath: String, stateDirectory: String) {
        self.init(backend: .detect(resolvConfPath: resolvConfPath), stateDirectory: stateDirectory)
    }

    /// Points name resolution at the tunnel. All or nothing: on error nothing of it is left.
    /// A second apply for the same session replaces its settings (the original is still what revert
    /// restores). `fullTunnel` (the tunnel carries the default route) makes resolved send every
    /// name to the tunnel's servers when there are no match domains.
    public func apply(
        _ settings: TunnelDNSSettings, interfaceName: String, session: String, fullTunnel: Bool
    ) throws(DNSError) -> AppliedDNS {
        if let problem = TunnelDNSSettings.interfaceNameProblem(interfaceName) {
            throw .invalidSetting(field: .interfaceName, value: interfaceName, problem: problem)
        }
        if let problem = TunnelDNSSettings.sessionProblem(session) {
            throw .invalidSetting(field: .session, value: session, problem: problem)
        }
        let applied = AppliedDNS(
            backend: backend, interfaceName: interfaceName, session: session, settings: settings, fullTunnel: fullTunnel)
        switch backend {
        case .resolved(let resolvectl): try applyResolved(applied, resolvectl: resolvectl)
        case .file(let path): try applyResolvConf(applied, path: path)
        }
        return applied
    }

    /// Undoes `applied`. Never overwrites a resolv.conf someone changed after apply (see the outcome).
    public func revert(_ applied: AppliedDNS) throws(DNSError) -> DNSRevertOutcome {
        switch applied.backend {
        case .resolved(let resolvectl): return try revertResolved(applied, resolvectl: resolvectl)
        case .file: return try revertResolvConf(session: applied.session)
        }
    }
}
