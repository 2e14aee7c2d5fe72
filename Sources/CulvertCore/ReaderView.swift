// ReaderView: what a reader-group caller may see of the daemon's state (docs/DESIGN.md, "Who may
// see what"). Every value is rebuilt from an allow-list of fields rather than copied and cleared,
// so a field added later stays withheld from readers until someone decides otherwise.

/// Which view of the state a caller gets: the class of `AccessPolicy` that may observe.
public enum Audience: Sendable, Hashable {
    /// uid 0: everything, byte for byte as the state holds it.
    case admin
    /// The reader group: states, reasons, counters and network state; never provider output,
    /// option values, secrets' names, paths or other callers' identities.
    case reader
}

extension AccessLevel {
    /// The view this class gets. `none` never reaches an observing method; it would get the
    /// narrowest view there is.
    public var audience: Audience { self == .admin ? .admin : .reader }
}

/// Builds the reader's view of each value the observing methods return. Withheld fields that the
/// interface requires are sent empty ("", [], {}); withheld optional fields are absent.
public enum ReaderView {
    /// `value` as `audience` may see it.
    public static func view(_ status: ManagerStatus, for audience: Audience) -> ManagerStatus {
        audience == .admin ? status : redacted(status)
    }

    /// `event` as `audience` may see it.
    public static func view(_ event: Event, for audience: Audience) -> Event {
        audience == .admin ? event : redacted(event)
    }

    /// `extensions` as `audience` may see them.
    public static func view(_ extensions: [ExtensionInfo], for audience: Audience) -> [ExtensionInfo] {
        audience == .admin ? extensions : extensions.map(redacted)
    }

    public static func redacted(_ status: ManagerStatus) -> ManagerStatus {
        ManagerStatus(
            daemon: redacted(status.daemon), seq: status.seq, profiles: status.profiles.map(redacted),
            extensions: status.extensions.map(redacted), developerMode: status.developerMode,
            sessions: status.sessions.map(redacted), problems: status.problems.map(redacted),
            containment: status.containment.map(redacted))
    }

    /// Kept: position, kind, names, flags, versions, reasons and states. Withheld: `actor` (another
    /// caller), `error` (texts with paths or a provider's words), `log` (provider output).
    public static func redacted(_ event: Event) -> Event {
        var body = EventBody(kind: event.kind)
        body.profile = event.profile.map(redacted)
        body.name = event.name
        body.created = event.created
        body.daemon = event.daemon.map(redacted)
        body.reason = event.reason
        body.extensionInfo = event.extensionInfo.map(redacted)
        body.previousVersion = event.previousVersion
        body.removals = event.removals.map { $0.map(redacted) }
        body.session = event.session.map(redacted)
        body.previousState = event.previousState
        return Event(seq: event.seq, epoch: event.epoch, time: event.time, body: body, status: event.status.map(redacted))
    }

    /// culvertd's own identity: `org.varlink.service.GetInfo` and /proc show it to anyone anyway.
    public static func redacted(_ daemon: DaemonInfo) -> DaemonInfo {
        DaemonInfo(version: daemon.version, pid: daemon.pid, epoch: daemon.epoch, startedAt: daemon.startedAt)
    }

    /// Withheld: option values (they may hold credentials or endpoints) and secrets' names.
    public static func redacted(_ profile: Profile) -> Profile {
        // The kill switch's state is `ip rule` state any user reads; its exceptions are too, but stay the admin's.
        Profile(
            name: profile.name, extensionIdentifier: profile.extensionIdentifier, alwaysOn: profile.alwaysOn, killSwitch: profile.killSwitch
        )
    }

    /// Withheld: `source` and `storePath` (paths), also of a staged version. Kept: the upgrade
    /// policy and the staged version.
    public static func redacted(_ info: ExtensionInfo) -> ExtensionInfo {
        var view = ExtensionInfo(
            identifier: info.identifier, displayName: info.displayName, version: info.version, build: info.build,
            publisher: info.publisher, signed: info.signed, state: info.state, reason: info.reason,
            capabilities: info.capabilities, source: "", storePath: "", contentDigest: info.contentDigest,
            installedAt: info.installedAt)
        view.upgradePolicy = info.upgradePolicy
        view.effectiveUpgradePolicy = info.effectiveUpgradePolicy
        view.staged = info.staged.map(redacted)
        return view
    }

    /// Withheld: `source` and `storePath` (paths).
    public static func redacted(_ staged: StagedUpgrade) -> StagedUpgrade {
        StagedUpgrade(
            displayName: staged.displayName, version: staged.version, build: staged.build, capabilities: staged.capabilities, source: "",
            storePath: "", contentDigest: staged.contentDigest, stagedAt: staged.stagedAt)
    }

    /// Kept: the kind. Withheld: paths, and the description (an error text naming files).
    public static func redacted(_ problem: Problem) -> Problem {
        Problem(kind: problem.kind, path: "", description: "", movedTo: nil)
    }

    /// Withheld: the path.
    public static func redacted(_ removal: Removal) -> Removal {
        Removal(kind: removal.kind, identifier: removal.identifier, path: "", reason: removal.reason)
    }

    /// Kept: states, reasons, counters, times and the network state culvertd applied (interface,
    /// remote address, MTU, addresses, routes, DNS): any local user reads the same with `ip`, `ss`,
    /// `resolvectl` or resolv.conf. Withheld: the provider's pid and uid, the client that connected.
    public static func redacted(_ session: SessionInfo) -> SessionInfo {
        var view = SessionInfo(
            profile: session.profile, id: session.id, extensionIdentifier: session.extensionIdentifier,
            extensionVersion: session.extensionVersion, requestedAt: session.requestedAt)
        view.state = session.state
        view.reason = session.reason
        view.connectedAt = session.connectedAt
        view.interface = session.interface
        view.tunnelRemoteAddress = session.tunnelRemoteAddress
        view.mtu = session.mtu
        view.addresses = session.addresses
        view.routes = session.routes
        view.fullTunnel = session.fullTunnel
        view.dnsServers = session.dnsServers
        view.dnsBackend = session.dnsBackend
        view.counters = redacted(session.counters)
        view.restarts = session.restarts
        view.nextRestartAt = session.nextRestartAt
        view.failure = session.failure.map(redacted)
        view.containment = session.containment.map(redacted)
        view.killSwitch = session.killSwitch
        return view
    }

    /// Withheld: `cgroup` (a path). Limits, use and refused calls are counters.
    public static func redacted(_ containment: SessionContainment) -> SessionContainment {
        SessionContainment(
            tasksMax: containment.tasksMax, memoryMax: containment.memoryMax, tasks: containment.tasks,
            memoryBytes: containment.memoryBytes, deniedCalls: containment.deniedCalls,
            deniedCallNames: containment.deniedCallNames)
    }

    /// Withheld: `description` (it may name cgroup paths).
    public static func redacted(_ containment: ContainmentInfo) -> ContainmentInfo {
        ContainmentInfo(
            identities: containment.identities, cgroups: containment.cgroups, limits: containment.limits,
            tasksMax: containment.tasksMax, memoryMax: containment.memoryMax, seccomp: containment.seccomp, description: "")
    }

    public static func redacted(_ counters: SessionCounters) -> SessionCounters {
        SessionCounters(
            rxBytes: counters.rxBytes, rxPackets: counters.rxPackets, txBytes: counters.txBytes, txPackets: counters.txPackets)
    }

    /// Kept: the reason code, exit status and signal. Withheld: the description (it can quote the
    /// provider, e.g. StartTunnel's error or CancelTunnel's text, or name files) and the log.
    public static func redacted(_ failure: SessionFailure) -> SessionFailure {
        SessionFailure(reason: failure.reason, description: "", exitStatus: failure.exitStatus, signal: failure.signal)
    }
}
