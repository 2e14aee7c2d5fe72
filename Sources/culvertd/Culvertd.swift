// culvertd: the Culvert daemon. Parses flags, sets up logging, runs ManagerDaemon under a ServiceGroup.

import ArgumentParser
import CulvertManager
import CulvertVarlink
import Foundation
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
              RUNTIME-DIR/io.culvert.Manager   the varlink control socket

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

    @Flag(name: .long, help: "Log debug messages too.")
    var verbose = false

    func validate() throws {
        guard eventBuffer >= 1 && eventBuffer <= 1_000_000 else { throw ValidationError("--event-buffer must be between 1 and 1000000") }
        guard maxQueuedOutput >= 4096 else { throw ValidationError("--max-queued-output must be at least 4096") }
        guard maxConnections >= 1, maxConnectionsPerUser >= 1 else { throw ValidationError("connection limits must be at least 1") }
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

    static func describe(_ error: any Error) -> String {
        if let error = error as? ServiceGroupError, let underlying = Mirror(reflecting: error).descendant("underlying") {
            return "\(underlying)"
        }
        return "\(error)"
    }
}
