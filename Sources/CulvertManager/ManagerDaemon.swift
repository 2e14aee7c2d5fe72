// ManagerDaemon: culvertd's lifetime — directories, the listener, readiness, watchdog, shutdown.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import Dispatch
import Logging
import ServiceLifecycle

/// Why culvertd could not start or had to stop.
public enum DaemonError: Error, CustomStringConvertible {
    /// Another culvertd answers on the socket path.
    case alreadyRunning(path: String)
    /// The control socket could not be created or the activated one is unusable.
    case listenerUnavailable(SystemError)
    /// A socket-activated descriptor is not a listening AF_UNIX stream socket.
    case activatedDescriptorInvalid(Int32)
    /// The listener failed while running; the daemon never runs without it.
    case listenerFailed(SystemError)
    /// The state directory could not be prepared or read.
    case stateUnavailable(SystemError)
    /// Providers could not be contained as configured (for example the uid range overlaps users).
    case containmentUnavailable(ConfinementError)

    public var description: String {
        switch self {
        case .alreadyRunning(let path): return "another culvertd is already serving \(path)"
        case .listenerUnavailable(let e): return "cannot create the control socket: \(e)"
        case .activatedDescriptorInvalid(let fd): return "socket-activated fd \(fd) is not a listening unix stream socket"
        case .listenerFailed(let e): return "the control socket failed: \(e)"
        case .stateUnavailable(let e): return "cannot use the state directory: \(e)"
        case .containmentUnavailable(let e): return "cannot contain providers: \(e)"
        }
    }
}

/// culvertd as a Service: runs until graceful shutdown (SIGTERM/SIGINT) or a fatal listener error.
public struct ManagerDaemon: Service, CustomStringConvertible {
    // ServiceLifecycle logs services by description; the default would print the environment.
    public var description: String { "ManagerDaemon(\(configuration.socketPath))" }

    public static let runtimeDirectoryMode: UInt32 = 0o755
    /// Anyone may connect; authorisation is per call, by SO_PEERCRED.
    public static let socketMode: UInt32 = 0o666

    let configuration: ManagerConfiguration
    let logger: Logger
    let environment: [String: String]

    public init(configuration: ManagerConfiguration, logger: Logger, environment: [String: String]) {
        self.configuration = configuration
        self.logger = logger
        self.environment = environment
    }

    public func run() async throws {
        ResourceLimits.raiseDescriptorLimit()
        MemoryPolicy.configureForDaemon()
        do { try ProviderConfinement.validate(configuration.supervisor) } catch { throw DaemonError.containmentUnavailable(error) }
        do {
            _ = try NetlinkRouteSocket()
            _ = try MnlSocket()
        } catch {
            // Profiles and the status channel still work; tunnels (which need rtnetlink) will not.
            logger.warning("rtnetlink is unavailable (\(error)); tunnels cannot be started")
        }
        let inherited = ReexecState.take(from: environment)
        if let problem = inherited?.problem {
            logger.error("re-exec state unusable (\(problem)): clients reconnect and resync, providers are re-adopted")
        }
        let (listener, ownsPath) = try inherited.map { ($0.listener, $0.ownsPath) } ?? obtainListener()
        let queue = DispatchQueue(label: "culvertd.manager")
        let server = VarlinkServer(
            info: VarlinkServiceInfo(
                vendor: "Culvert", product: "culvertd", version: configuration.version, url: "https://culvert.invalid/"),
            limits: configuration.limits, queue: queue)
        let (failures, failureSink) = AsyncStream.makeStream(of: SystemError?.self)
        let service: ManagerService
        do {
            service = try queue.sync { () throws(SystemError) -> ManagerService in
                try ManagerService(configuration: configuration, queue: queue, logger: logger, restoring: inherited?.state)
            }
        } catch let error as SystemError {
            throw DaemonError.stateUnavailable(error)
        }
        do {
            let niced = try queue.sync { () throws(SystemError) -> Bool in try ThreadPriority.enterControlPlane() }
            if !niced {
                logger.notice(
                    "control plane at the default nice value (no CAP_SYS_NICE, RLIMIT_NICE below \(20 - ThreadPriority.controlNiceness)): only its shorter slice applies"
                )
            }
        } catch {
            logger.notice("control plane at the default scheduling (\(error))")
        }
        try queue.sync {
            try service.attach(to: server)
            service.ownsSocketPath = ownsPath
            server.onListenerFailure = { error in failureSink.yield(error) }
            try server.start(listener: listener)
            service.adoptCarriedConnections()
        }
        logger.notice(
            "culvertd \(configuration.version) serving \(configuration.socketPath) (epoch \(service.daemon.epoch), pid \(Identity.processID))"
        )
        // Without systemd there is nobody to tell, so a failed notification is not an error.
        try? SystemdNotify.send("READY=1\nSTATUS=serving \(configuration.socketPath)", environment: environment)
        let watchdog = Task { await pingWatchdog(queue: queue) }

        var fatal: SystemError?
        await withGracefulShutdownHandler {
            for await failure in failures {
                fatal = failure
                break
            }
        } onGracefulShutdown: {
            failureSink.yield(nil)
        }
        watchdog.cancel()
        try? SystemdNotify.send("STOPPING=1", environment: environment)  // as above
        queue.sync { server.stop() }
        // Tunnels go down with a stopping daemon, and every setting they made is taken back.
        await service.supervisor.stopAll(timeout: configuration.sessionTiming.stopTimeout + .seconds(1))
        queue.sync { service.supervisor.confinement.shutDown() }
        if ownsPath { try? FileSystem.removeFile(configuration.socketPath) }  // leaving a dead socket file is harmless
        listener.close()
        if let fatal {
            logger.critical("control socket failed: \(fatal); exiting rather than running without it")
            throw DaemonError.listenerFailed(fatal)
        }
        logger.notice("culvertd stopped")
    }

    /// The activated listener if systemd passed one, else a new socket at the configured path.
    private func obtainListener() throws -> (Descriptor, ownsPath: Bool) {
        let activated = SystemdNotify.listenDescriptors(environment: environment)
        if !activated.isEmpty {
            let chosen = activated.first { $0.name == ManagerConfiguration.socketName } ?? activated[0]
            let ok: Bool
            do {
                ok = try UnixSocket.isListener(chosen.descriptor)
            } catch {
                throw DaemonError.listenerUnavailable(error)
            }
            guard ok else { throw DaemonError.activatedDescriptorInvalid(chosen.descriptor.rawValue) }
            try? chosen.descriptor.setCloseOnExec(true)  // only matters for children we spawn; failure is harmless here
            logger.info("using socket-activated listener \(chosen.descriptor)")
            return (chosen.descriptor, false)
        }
        let path = configuration.socketPath
        do {
            try FileSystem.createDirectory(configuration.runtimeDirectory, mode: Self.runtimeDirectoryMode)
        } catch {
            throw DaemonError.listenerUnavailable(error)
        }
        if FileSystem.exists(path) {
            if let probe = try? UnixSocket.connect(path: path) {  // refused or missing: the file is stale
                probe.close()
                throw DaemonError.alreadyRunning(path: path)
            }
            try? FileSystem.removeFile(path)  // bind below reports the real problem if this failed
        }
        do {
            let fd = try UnixSocket.listen(path: path)
            try FileSystem.setMode(path, Self.socketMode)
            return (fd, true)
        } catch {
            throw DaemonError.listenerUnavailable(error)
        }
    }

    /// Sends WATCHDOG=1 at half the interval systemd asked for, but only after the manager queue
    /// answered: a wedged daemon stops petting the watchdog and systemd restarts it.
    private func pingWatchdog(queue: DispatchQueue) async {
        guard let interval = SystemdNotify.watchdogInterval(environment: environment) else { return }
        while !Task.isCancelled {
            try? await Task.sleep(for: interval / 2)  // cancellation ends the loop on the next check
            await withCheckedContinuation { continuation in queue.async { continuation.resume() } }
            try? SystemdNotify.send("WATCHDOG=1", environment: environment)  // systemd absent: nothing to do
        }
    }
}
