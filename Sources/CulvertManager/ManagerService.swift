// ManagerService: io.culvert.Manager — profiles, status and the sequenced event stream.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch
import Logging

/// The daemon's state and its varlink interface. Confined to the server queue: every call,
/// event and disk write happens there, in one order, which is what makes seq numbers exact.
public final class ManagerService: VarlinkHandler, @unchecked Sendable {  // confined to `queue`
    public static let interfaceName = ManagerMethod.interface

    let configuration: ManagerConfiguration
    let queue: DispatchQueue
    let logger: Logger
    let policy: AccessPolicy
    let daemon: DaemonInfo
    /// The sequenced event stream, shared with the supervisor (which publishes session events itself).
    let stream: EventStream
    var store: ProfileStore
    var catalog: ExtensionCatalog
    /// Damage found at start outside the profile store and the catalog (spool requests, the DNS backup).
    var startProblems: [Problem] = []
    /// Serialises installs, uninstalls and gc, and runs an install's staging off the queue.
    private(set) lazy var installs = OrderedJobs(queue: queue, work: OrderedJobs.installWorker)
    /// Serialises changes to registry.json and writes them off the queue (`commitRegistry`).
    private(set) lazy var registryWrites = OrderedJobs(queue: queue, work: OrderedJobs.registryWorker)
    /// Runs the sessions. Made once the stores are loaded: it looks launch targets up through `self`.
    private(set) lazy var supervisor = SessionSupervisor(
        configuration: supervisorConfiguration, stateDirectory: configuration.stateDirectory, queue: queue, logger: logger,
        events: stream, targets: self)
    private let supervisorConfiguration: SupervisorConfiguration

    public var interfaceDescription: String { ManagerInterfaces.ioCulvertManager }

    /// The server this service is attached to (for Reexec, which hands its connections over).
    weak var server: VarlinkServer?
    /// Whether culvertd created the socket path (not socket-activated); carried across a re-exec.
    var ownsSocketPath = true
    /// What a re-exec carried in, until the connections are adopted.
    var restoring: ReexecState?
    /// Counters and gauges for GetMetrics and the textfile (ManagerService+Metrics).
    let metrics: ManagerMetrics
    /// Rewrites the metrics textfile every stats interval, when --metrics-textfile is given.
    var metricsTimer: (any DispatchSourceTimer)?
    /// Whether a textfile write is in flight (one at a time), and the last write error logged.
    var metricsWriteInFlight = false
    var metricsLastError: String?
    /// The upgrade-policy decision of each extension with a staged version or a switch running
    /// (ManagerService+Policies); rebuilt from the registry at start.
    var policyMachines: [String: UpgradePolicyMachine] = [:]
    /// Samples traffic and re-evaluates staged upgrades while any is staged.
    var policyTimer: (any DispatchSourceTimer)?

    public convenience init(configuration: ManagerConfiguration, queue: DispatchQueue, logger: Logger) throws(SystemError) {
        try self.init(configuration: configuration, queue: queue, logger: logger, restoring: nil)
    }

    init(configuration: ManagerConfiguration, queue: DispatchQueue, logger: Logger, restoring: ReexecState?) throws(SystemError) {
        dispatchPrecondition(condition: .onQueue(queue))
        self.configuration = configuration
        self.queue = queue
        self.logger = logger
        var sessions = configuration.supervisor
        sessions.runtimeDirectory = configuration.runtimeDirectory
        supervisorConfiguration = sessions
        let readerGID = Identity.groupID(named: configuration.readerGroup)
        if readerGID == nil {
            logger.notice("reader group \"\(configuration.readerGroup)\" does not exist: only root may connect")
        }
        policy = AccessPolicy(readerGroupID: readerGID)
        // A fresh epoch per start: the ring did not survive, so old positions are void (contract 3).
        // A re-exec carries the ring, and with it the epoch: positions stay valid.
        let epoch = restoring?.epoch ?? WallClock.randomIdentifier()
        daemon = DaemonInfo(
            version: configuration.version, pid: Int64(Identity.processID), epoch: epoch,
            startedAt: restoring?.startedAt ?? WallClock.rfc3339Now())
        if let restoring {
            stream = EventStream(
                log: EventLog(
                    restoring: restoring.events, epoch: epoch, capacity: max(configuration.eventCapacity, 1), lastSeq: restoring.lastSeq),
                queue: queue)
        } else {
            stream = EventStream(log: EventLog(epoch: epoch, capacity: configuration.eventCapacity), queue: queue)
        }
        self.restoring = restoring
        metrics = ManagerMetrics(
            version: configuration.version, startTime: WallClock.unixSeconds(), ringCapacity: max(configuration.eventCapacity, 1))
        // Providers (an unprivileged user) must reach their store copy under the state directory;
        // the secrets inside it sit in 0700/0600 subdirectories.
        try FileSystem.createDirectory(configuration.stateDirectory, mode: 0o755)
        store = ProfileStore(stateDirectory: configuration.stateDirectory)
        try store.load()
        catalog = ExtensionCatalog(stateDirectory: configuration.stateDirectory)
        // A registry that is missing or does not read is rebuilt from the store and reported;
        // only a state directory culvertd cannot write stops it.
        try catalog.load(configDirectory: configuration.configDirectory, daemonVersion: configuration.version, time: WallClock.rfc3339Now())
        startProblems = try StateQuarantine.checkAuxiliaryFiles(stateDirectory: configuration.stateDirectory)
        for problem in store.problems + catalog.problems + startProblems {
            logger.error("\(problem.kind) \(problem.path): \(problem.description); moved to \(problem.movedTo ?? "-")")
        }
        stream.observer = { [metrics, weak self] body in
            metrics.observe(body)
            self?.observedForPolicies(body)
        }
        if restoring == nil { stream.record(EventBody(kind: .daemonStarted, daemon: daemon)) }
        supervisor.quietTransitions = restoring != nil
        // Kill switches first: re-adopted sessions route into their tables, and nothing is swept before.
        startProblems += supervisor.adoptKillSwitches { [store] in store.profiles[$0] != nil }
        supervisor.readoptProviders(carrying: restoring?.seccompListeners ?? [])
        supervisor.removeLeftovers()
        if let restoring { supervisor.restoreCarried(sessions: restoring.sessions, logs: restoring.sessionLogs) }
        supervisor.showHeldKillSwitches(profiles: store.sortedProfiles)
        supervisor.quietTransitions = false
        applySpool()
        startUpgradePolicies()
        startAlwaysOnSessions()
        startMetricsTextfile()
    }

    /// The event ring (read-only here: events are added through `publish`).
    var events: EventLog { stream.log }
    var subscribers: Subscribers {
        get { stream.subscribers }
        set { stream.subscribers = newValue }
    }

    /// Attaches to the server's connection lifecycle (subscriber cleanup, slow-subscriber error).
    public func attach(to server: VarlinkServer) throws(VarlinkIDLError) {
        dispatchPrecondition(condition: .onQueue(queue))
        let limit = server.limits.maximumQueuedOutput
        server.overflowError = { queued in
            ManagerError.subscriberTooSlow(queuedBytes: Int64(queued), limit: Int64(limit)).varlinkError
        }
        server.onConnectionClosed = { [weak self] id in self?.subscribers.remove(id) }
        server.classify = Self.connectionClass(policy: policy)
        server.onOverflow = { [weak self] id, peer in
            self?.logger.warning("dropped subscriber \(id) (\(peer)): it stopped reading its events")
        }
        try server.register(self)
        self.server = server
    }

    public var status: ManagerStatus {
        dispatchPrecondition(condition: .onQueue(queue))
        // An unreadable policy reads as "not developer mode" here; installs report it as PolicyInvalid.
        let policy = try? ExtensionPolicy.load(configDirectory: configuration.configDirectory)
        return ManagerStatus(
            daemon: daemon, seq: events.lastSeq, profiles: store.sortedProfiles, extensions: catalog.listed,
            developerMode: policy?.developerMode ?? false, sessions: supervisor.sortedSessions,
            problems: store.problems + catalog.problems + startProblems, containment: supervisor.confinement.info)
    }

    // MARK: VarlinkHandler

    public func authorize(_ call: VarlinkCall) -> VarlinkError? {
        dispatchPrecondition(condition: .onQueue(queue))
        let peer = call.peer
        let caller = Caller(uid: peer.uid, gid: peer.gid, groups: peer.groups)
        guard policy.allows(caller, method: call.message.member) else {
            logger.info("denied \(call.message.member) to \(peer)")
            return ManagerError.permissionDenied(action: call.message.member, uid: Int64(peer.uid)).varlinkError
        }
        return nil
    }

    public func handle(_ call: VarlinkCall, replier: VarlinkReplier) {
        dispatchPrecondition(condition: .onQueue(queue))
        // The queue's pooled threads take the control plane's scheduling when they first serve a call
        // (a thread-local check after that). try?: without it a call is served all the same, only
        // less promptly on a busy machine; ManagerDaemon logs at start which of it applies.
        _ = try? ThreadPriority.enterControlPlane()
        switch ManagerMethod(rawValue: call.message.method) {
        case .ping?:
            replier.reply(["version": .string(daemon.version), "epoch": .string(events.epoch), "seq": .int(events.lastSeq)])
        case .getStatus?:
            replier.reply(encodedParameters: appendingLimits(to: stream.encodedStatus(for: audience(of: call.peer)) { status }))
        case .getMetrics?:
            replier.reply(["text": .string(String(decoding: renderMetrics(), as: UTF8.self))])
        case .watch?:
            watch(call, replier: replier)
        case .saveProfile?:
            saveProfile(call, replier: replier)
        case .removeProfile?:
            removeProfile(call, replier: replier)
        case .reexec?:
            reexec(call, replier: replier)
        case .connect?, .disconnect?, .sendProviderMessage?, .getSessionLog?:
            handleSessionCall(call, replier: replier)
        case .installExtension?, .approveExtension?, .uninstallExtension?, .listExtensions?, .collectGarbage?:
            handleExtensionCall(call, replier: replier)
        case .setUpgradePolicy?, .upgradeExtension?, .cancelUpgrade?:
            handlePolicyCall(call, replier: replier)
        case nil:
            replier.fail(.methodNotImplemented(call.message.method))
        }
    }

    // MARK: methods

    private func watch(_ call: VarlinkCall, replier: VarlinkReplier) {
        guard replier.wantsMore else {
            replier.fail(.expectedMore)
            return
        }
        // Snapshot, replay and live events alike in the caller's view.
        let audience = self.audience(of: call.peer)
        let plan = events.resume(since: call.parameters["since"]?.intValue, epoch: call.parameters["epoch"]?.stringValue)
        switch plan {
        case .snapshot(let reason):
            var body = EventBody(kind: .snapshot)
            body.reason = reason.rawValue
            let snapshot = Event(seq: events.lastSeq, epoch: events.epoch, time: WallClock.rfc3339Now(), body: body, status: status)
            guard replier.sendContinuation(frame: WireEncoding.eventFrame(snapshot, for: audience)) else { return }
        case .replay(let missed):
            for event in missed {
                guard replier.sendContinuation(frame: WireEncoding.eventFrame(event, for: audience)) else { return }
            }
        }
        subscribe(call.connectionID, replier, audience: audience)
    }

    /// The view of the state `peer` may see (docs/DESIGN.md, "Who may see what").
    func audience(of peer: PeerCredentials) -> Audience {
        policy.level(of: Caller(uid: peer.uid, gid: peer.gid, groups: peer.groups)).audience
    }

    func actor(_ call: VarlinkCall) -> Actor {
        Actor(uid: Int64(call.peer.uid), pid: Int64(call.peer.pid), command: Identity.commandName(of: call.peer.pid))
    }

    private func saveProfile(_ call: VarlinkCall, replier: VarlinkReplier) {
        let input = call.parameters["profile"]
        let profile = Profile(
            name: input?["name"]?.stringValue ?? "",
            extensionIdentifier: input?["extension"]?.stringValue ?? "",
            options: WireEncoding.stringMap(input?["options"]) ?? [:],
            alwaysOn: input?["alwaysOn"]?.boolValue ?? false,
            killSwitch: input?["killSwitch"]?.boolValue ?? false,
            killSwitchAllow: input?["killSwitchAllow"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        let secrets = WireEncoding.stringMap(input?["secrets"])
        do throws(ProfileValidationError) {
            try ProfileValidation.validate(profile: profile, secrets: secrets)
        } catch {
            replier.fail(ManagerError.invalidProfile(field: error.field, reason: error.reason.rawValue))
            return
        }
        if let installed = catalog.installed(profile.extensionIdentifier), !installed.state.isUsable {
            replier.fail(ManagerError.extensionNotUsable(identifier: installed.identifier, state: installed.state.rawValue))
            return
        }
        let saved: Profile
        let created: Bool
        do throws(SystemError) {
            (saved, created) = try store.save(profile, secrets: secrets)
        } catch {
            logger.error("saving profile \(profile.name): \(error)")
            replier.fail(storageFailed(error))
            return
        }
        let event = publish(EventBody(kind: .profileSaved, actor: actor(call), profile: saved, created: created))
        logger.info("profile \(saved.name) \(created ? "created" : "replaced") by uid \(call.peer.uid) (seq \(event.seq))")
        replier.reply(
            encodedParameters: WireEncoding.encode(WireEncoding.SaveProfileReply(profile: saved, created: created, seq: event.seq)))
    }

    private func removeProfile(_ call: VarlinkCall, replier: VarlinkReplier) {
        let name = call.parameters["name"]?.stringValue ?? ""
        let removed: Bool
        do throws(SystemError) {
            removed = try store.remove(name)
        } catch {
            logger.error("removing profile \(name): \(error)")
            replier.fail(storageFailed(error))
            return
        }
        guard removed else {
            replier.fail(ManagerError.profileNotFound(name: name))
            return
        }
        let event = publish(EventBody(kind: .profileRemoved, actor: actor(call), name: name))
        supervisor.profileRemoved(name)
        logger.info("profile \(name) removed by uid \(call.peer.uid) (seq \(event.seq))")
        replier.reply(["seq": .int(event.seq)])
    }

    func storageFailed(_ error: SystemError) -> ManagerError {
        .storageFailed(path: error.path ?? "", errno: Int64(error.errno), description: error.description)
    }

    /// Records an event and queues it to every subscriber, in the same step.
    @discardableResult
    func publish(_ body: EventBody) -> Event { stream.publish(body) }
}
