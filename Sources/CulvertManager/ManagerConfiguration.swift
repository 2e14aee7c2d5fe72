// ManagerConfiguration: everything culvertd is told at start.

import CulvertCore
import CulvertVarlink
import CulvertWire

public struct ManagerConfiguration: Sendable {
    public static let socketName = ManagerMethod.interface

    public var stateDirectory = "/var/lib/culvert"
    public var runtimeDirectory = "/run/culvert"
    public var configDirectory = "/etc/culvert"
    /// Members of this group may observe (Ping, GetStatus, Watch).
    public var readerGroup = "culvert"
    /// How many events are kept for replay.
    public var eventCapacity = EventLog.defaultCapacity
    public var limits = VarlinkLimits()
    public var version = CulvertVersion.current
    /// Where culvert.prom is rewritten for node_exporter's textfile collector (nil: not written).
    public var metricsTextfileDirectory: String?
    /// Seconds every session of an extension must carry no traffic before a staged `when-idle`
    /// upgrade is applied.
    public var upgradeIdleInterval = UpgradePolicyTiming.defaultIdleInterval
    var supervisor = SupervisorConfiguration()
    /// The uids (and equal gids) providers run as: each running provider has one of its own.
    public var providerIdentities: ClosedRange<UInt32> {
        get { supervisor.providerIdentities }
        set { supervisor.providerIdentities = newValue }
    }
    /// Where session cgroups are made (a path in the cgroup2 hierarchy); nil: under culvertd's own.
    public var cgroupRoot: String? {
        get { supervisor.cgroupRoot }
        set { supervisor.cgroupRoot = newValue }
    }
    /// Tasks and memory per session: defaults and the most a manifest may ask for.
    public var providerLimits: ProviderLimits {
        get { supervisor.providerLimits }
        set { supervisor.providerLimits = newValue }
    }
    /// Session timers (start deadline, stop grace, restart backoff, stable period).
    public var sessionTiming: SessionTiming {
        get { supervisor.timing }
        set { supervisor.timing = newValue }
    }
    /// How often session link counters are refreshed.
    public var statsInterval: Duration {
        get { supervisor.statsInterval }
        set { supervisor.statsInterval = newValue }
    }
    /// The resolv.conf rewritten for tunnel DNS when systemd-resolved does not run.
    public var resolvConfPath: String {
        get { supervisor.resolvConfPath }
        set { supervisor.resolvConfPath = newValue }
    }
    /// How long a provider whose culvertd died keeps its tunnel, waiting to be re-adopted.
    public var orphanTimeout: Duration {
        get { supervisor.orphanTimeout }
        set { supervisor.orphanTimeout = newValue }
    }
    /// How tunnel DNS is applied.
    public var dnsBackend: DNSBackendChoice {
        get { supervisor.dnsBackend }
        set { supervisor.dnsBackend = newValue }
    }
    /// Test hook: every settings transaction fails at this step and rolls back.
    public var injectSettingsFailureAtStep: Int? {
        get { supervisor.injectSettingsFailureAtStep }
        set { supervisor.injectSettingsFailureAtStep = newValue }
    }

    public init() {}

    public var socketPath: String { runtimeDirectory + "/" + Self.socketName }
}
