// culvertd: the Culvert daemon. Parses flags, sets up logging, runs ManagerDaemon under a ServiceGroup.

import ArgumentParser
import CulvertCore
import CulvertManager
import CulvertVarlink
import FoundationEssentials
import Logging
import ServiceLifecycle

@main
struct Culvertd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "culvertd",
        abstract: "The Culvert daemon: installs and runs packet-tunnel extensions and serves io.culvert.Manager.",
        discussion: """
            culvertd runs in the foreground and logs to standard error with journald priority \
            prefixes. It listens on RUNTIME-DIR/io.culvert.Manager, or on the socket systemd passes \
            (LISTEN_FDS), and reports readiness and watchdog pings to NOTIFY_SOCKET when systemd \
            sets it. If the control socket cannot be created, or fails later, culvertd exits \
            non-zero: it never runs without its socket.

            FILES
              STATE-DIR/profiles/NAME.json     profiles with their secrets (0600)
              STATE-DIR/extensions/            registry and verified read-only copies
              STATE-DIR/spool/                 installs asked for while culvertd was down
              CONFIG-DIR/policy.json           requireApproval, developerMode,
                                               allowedPublishers
              CONFIG-DIR/trusted-keys/*.json   publisher keys whose bundles are accepted
              STATE-DIR/extensions/store/…     the only copies providers are run from
              RUNTIME-DIR/io.culvert.Manager   the varlink control socket

            SESSIONS
              Connect starts the profile's provider from the verified store copy under a
              uid and gid of its own from --provider-uids, with no capabilities, no_new_privs
              and a seccomp filter (refused calls fail with EPERM and are counted), inside a
              cgroup of its own limited by --provider-tasks and --provider-memory, its TUN
              on fd 3 and its channel on fd 4. Ending a session kills its whole cgroup.
              docs/PROVIDERS.md describes the containment and its limits. It must finish StartTunnel within --start-timeout;
              a provider that exits, crashes or times out ends the session with a
              typed session_state event carrying its last output lines. alwaysOn
              profiles restart after --restart-delay, doubling up to
              --restart-delay-max; the count resets after --stable-period connected.
              If culvertd dies, providers keep their tunnels for --orphan-timeout; a
              culvertd started meanwhile re-adopts them through RUNTIME-DIR/sessions/
              (record + rendezvous socket), proving each is the process it spawned.
              Routes and rules culvertd creates carry route protocol 156 (0x9c);
              full tunnels use table and fwmark 0x9c43.

            EXIT STATUS
              0   stopped by SIGTERM or SIGINT
              1   startup failure (socket, state directory), or the listener failed
              64  bad usage

            EXAMPLES
              culvertd --state-dir /tmp/c/state --runtime-dir /tmp/c/run \\
                       --config-dir /tmp/c/etc
              python3 -m varlink.cli info unix:/run/culvert/io.culvert.Manager
            """,
        version: CulvertVersion.current)

    @Option(name: .long, help: ArgumentHelp("Where profiles, secrets and installed extensions are kept.", valueName: "dir"))
    var stateDir = "/var/lib/culvert"

    @Option(name: .long, help: ArgumentHelp("Where the control socket and per-session rendezvous live.", valueName: "dir"))
    var runtimeDir = "/run/culvert"

    @Option(name: .long, help: ArgumentHelp("Where policy and trusted publisher keys are read from.", valueName: "dir"))
    var configDir = "/etc/culvert"

    @Option(
        name: .long, help: ArgumentHelp("Members of this group may observe (Ping, GetStatus, Watch, ListExtensions).", valueName: "name"))
    var group = "culvert"

    @Option(name: .long, help: ArgumentHelp("Events kept for replay to reconnecting watchers.", valueName: "count"))
    var eventBuffer = 4096

    @Option(name: .long, help: ArgumentHelp("Bytes queued to one client before it is dropped as too slow.", valueName: "bytes"))
    var maxQueuedOutput = 4 << 20

    @Option(name: .long, help: ArgumentHelp("Client connections open at once, all users together.", valueName: "count"))
    var maxConnections = VarlinkLimits.defaultMaximumConnections

    @Option(name: .long, help: ArgumentHelp("Client connections open at once by one uid.", valueName: "count"))
    var maxConnectionsPerUser = VarlinkLimits.defaultMaximumConnectionsPerUser

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Connection slots only root may take (default \(VarlinkLimits.defaultReservedAdminConnections), at most a quarter of --max-connections).",
            valueName: "count"))
    var reservedAdminConnections: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Connection slots only root or the reader group may take (default \(VarlinkLimits.defaultReservedReaderConnections), at most a quarter of --max-connections).",
            valueName: "count"))
    var reservedReaderConnections: Int?

    @Option(name: .long, help: .hidden)
    var testPartialMessageDeadline: Double?

    @Option(name: .long, help: .hidden)
    var testIdleDeadline: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The uids (and equal gids) providers run as: each running provider gets one of its own, never reused while anything of its previous holder runs. The range must not overlap any user, group or /etc/subuid, /etc/subgid range.",
            valueName: "first-last"))
    var providerUids = "\(ProviderLimits.defaultIdentities.lowerBound)-\(ProviderLimits.defaultIdentities.upperBound)"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Where session cgroups are made: a path in the cgroup2 hierarchy (default: a child of culvertd's own cgroup).",
            valueName: "path"))
    var cgroupRoot: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Tasks (processes and threads) a session may run unless its manifest asks otherwise.", valueName: "count"))
    var providerTasks = ProviderLimits().tasks

    @Option(name: .long, help: ArgumentHelp("The most tasks an extension's manifest may ask for.", valueName: "count"))
    var providerTasksMax = ProviderLimits().maximumTasks

    @Option(
        name: .long,
        help: ArgumentHelp("Memory a session may use unless its manifest asks otherwise (bytes, or with K, M or G).", valueName: "size"))
    var providerMemory = "\(ProviderLimits().memoryBytes >> 20)M"

    @Option(name: .long, help: ArgumentHelp("The most memory an extension's manifest may ask for (bytes, or K, M, G).", valueName: "size"))
    var providerMemoryMax = "\(ProviderLimits().maximumMemoryBytes >> 30)G"

    @Option(name: .long, help: ArgumentHelp("Seconds a provider may take to start its tunnel before it is killed.", valueName: "seconds"))
    var startTimeout = 30.0

    @Option(name: .long, help: ArgumentHelp("Seconds a stopping provider may take to exit before it is killed.", valueName: "seconds"))
    var stopTimeout = 5.0

    @Option(
        name: .long,
        help: ArgumentHelp("First restart delay of a failed alwaysOn session; doubles per failure.", valueName: "seconds"))
    var restartDelay = 1.0

    @Option(name: .long, help: ArgumentHelp("Longest restart delay of an alwaysOn session.", valueName: "seconds"))
    var restartDelayMax = 60.0

    @Option(
        name: .long, help: ArgumentHelp("Seconds connected after which a session's restart count resets.", valueName: "seconds"))
    var stablePeriod = 60.0

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Seconds a provider keeps its tunnel up after culvertd died, waiting for a new culvertd to re-adopt it.",
            valueName: "seconds"))
    var orphanTimeout = 600.0

    @Option(name: .long, help: ArgumentHelp("Seconds between link counter refreshes (session_stats events).", valueName: "seconds"))
    var statsInterval = 2.0

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Seconds every session of an extension must carry no traffic before a staged upgrade with policy when-idle is applied.",
            valueName: "seconds"))
    var upgradeIdleInterval = UpgradePolicyTiming.defaultIdleInterval

    @Option(
        name: .long,
        help: ArgumentHelp("The resolv.conf culvertd rewrites for tunnel DNS when systemd-resolved does not run.", valueName: "path"))
    var resolvConf = "/etc/resolv.conf"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "How tunnel DNS is applied: auto (systemd-resolved when it runs in culvertd's network namespace, else --resolv-conf), resolved, or file.",
            valueName: "auto|resolved|file"))
    var dns = "auto"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A directory where culvert.prom (the metrics, as `culvertctl metrics` prints them) is rewritten atomically every --stats-interval, for node_exporter's textfile collector.",
            valueName: "dir"))
    var metricsTextfile: String?

    @Option(name: .long, help: .hidden)
    var testFailSettingsAtStep: Int?

    @Flag(name: .long, help: "Log debug messages too.")
    var verbose = false

    func validate() throws {
        guard eventBuffer >= 1 && eventBuffer <= 1_000_000 else { throw ValidationError("--event-buffer must be between 1 and 1000000") }
        guard maxQueuedOutput >= 4096 else { throw ValidationError("--max-queued-output must be at least 4096") }
        guard maxConnections >= 1, maxConnectionsPerUser >= 1 else { throw ValidationError("connection limits must be at least 1") }
        let reserved = (reservedAdminConnections ?? 0) + (reservedReaderConnections ?? 0)
        guard (reservedAdminConnections ?? 0) >= 0, (reservedReaderConnections ?? 0) >= 0, reserved < maxConnections else {
            throw ValidationError("reserved connection slots must leave some of --max-connections to everyone")
        }
        for value in [testPartialMessageDeadline, testIdleDeadline].compactMap({ $0 }) where !(value > 0 && value <= 86_400) {
            throw ValidationError("test deadlines must be between 0 and 86400 seconds")
        }
        for (name, value) in [
            ("--start-timeout", startTimeout), ("--stop-timeout", stopTimeout), ("--restart-delay", restartDelay),
            ("--restart-delay-max", restartDelayMax), ("--stable-period", stablePeriod), ("--stats-interval", statsInterval),
            ("--orphan-timeout", orphanTimeout), ("--upgrade-idle-interval", upgradeIdleInterval),
        ] {
            guard value > 0, value <= 86_400 else { throw ValidationError("\(name) must be between 0 and 86400 seconds") }
        }
        guard ProviderLimits.identities(parsing: providerUids) != nil else {
            throw ValidationError("--provider-uids must be FIRST-LAST with 1000 <= FIRST <= LAST < 2147483648")
        }
        guard providerTasks >= 1, providerTasksMax >= providerTasks else {
            throw ValidationError("--provider-tasks must be at least 1 and at most --provider-tasks-max")
        }
        guard let memory = Self.bytes(providerMemory), let memoryMax = Self.bytes(providerMemoryMax), memory >= 1 << 20,
            memoryMax >= memory
        else { throw ValidationError("--provider-memory must be at least 1M and at most --provider-memory-max") }
        if let cgroupRoot, !cgroupRoot.hasPrefix("/") || cgroupRoot.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) {
            throw ValidationError("--cgroup-root must be an absolute path without . or .. components")
        }
        guard DNSBackendChoice(rawValue: dns) != nil else { throw ValidationError("--dns must be auto, resolved or file") }
        guard restartDelayMax >= restartDelay else { throw ValidationError("--restart-delay-max must be at least --restart-delay") }
        if let metricsTextfile, !metricsTextfile.hasPrefix("/") { throw ValidationError("--metrics-textfile must be an absolute path") }
    }

    func run() async throws {
        let verbose = self.verbose
        LoggingSystem.bootstrap { label in
            var handler = JournalLogHandler(label: label)
            handler.logLevel = verbose ? .debug : .info
            return handler
        }
        let logger = Logger(label: "culvertd")
        var configuration = ManagerConfiguration()
        configuration.stateDirectory = stateDir
        configuration.runtimeDirectory = runtimeDir
        configuration.configDirectory = configDir
        configuration.readerGroup = group
        configuration.eventCapacity = eventBuffer
        configuration.limits.maximumQueuedOutput = maxQueuedOutput
        configuration.limits.maximumConnections = maxConnections
        configuration.limits.maximumConnectionsPerUser = maxConnectionsPerUser
        // A small --max-connections (tests) scales the default reservations down with it.
        configuration.limits.reservedAdminConnections =
            reservedAdminConnections ?? min(VarlinkLimits.defaultReservedAdminConnections, maxConnections / 4)
        configuration.limits.reservedReaderConnections =
            reservedReaderConnections ?? min(VarlinkLimits.defaultReservedReaderConnections, maxConnections / 4)
        if let testPartialMessageDeadline { configuration.limits.partialMessageDeadline = .seconds(testPartialMessageDeadline) }
        if let testIdleDeadline { configuration.limits.idleDeadline = .seconds(testIdleDeadline) }
        configuration.providerIdentities = ProviderLimits.identities(parsing: providerUids) ?? ProviderLimits.defaultIdentities
        configuration.cgroupRoot = cgroupRoot
        configuration.providerLimits.tasks = providerTasks
        configuration.providerLimits.maximumTasks = providerTasksMax
        configuration.providerLimits.memoryBytes = Self.bytes(providerMemory) ?? configuration.providerLimits.memoryBytes
        configuration.providerLimits.maximumMemoryBytes = Self.bytes(providerMemoryMax) ?? configuration.providerLimits.maximumMemoryBytes
        configuration.sessionTiming = SessionTiming(
            startTimeout: .seconds(startTimeout), stopTimeout: .seconds(stopTimeout), restartBaseDelay: .seconds(restartDelay),
            restartMaximumDelay: .seconds(restartDelayMax), stablePeriod: .seconds(stablePeriod))
        configuration.statsInterval = .seconds(statsInterval)
        configuration.orphanTimeout = .seconds(orphanTimeout)
        configuration.upgradeIdleInterval = upgradeIdleInterval
        configuration.resolvConfPath = resolvConf
        configuration.dnsBackend = DNSBackendChoice(rawValue: dns) ?? .auto
        configuration.injectSettingsFailureAtStep = testFailSettingsAtStep
        configuration.metricsTextfileDirectory = metricsTextfile
        let daemon = ManagerDaemon(configuration: configuration, logger: logger, environment: ProcessInfo.processInfo.environment)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(
                        service: daemon, successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup)
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            logger.critical("\(Self.describe(error))")
            throw ExitCode.failure
        }
    }

    /// Bytes from "N", "NK", "NM" or "NG" (binary multiples); nil if malformed or above 1 TiB.
    static func bytes(_ text: String) -> Int? {
        let shifts: [Character: Int] = ["K": 10, "M": 20, "G": 30]
        var digits = Substring(text)
        var shift = 0
        if let last = digits.last, let unit = shifts[Character(last.uppercased())] {
            shift = unit
            digits = digits.dropLast()
        }
        guard let value = Int(digits), value >= 0, value <= (1 << 40) >> shift else { return nil }
        return value << shift
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? ServiceGroupError, let underlying = Mirror(reflecting: error).descendant("underlying") {
            return "\(underlying)"
        }
        return "\(error)"
    }
}
