// SessionSupervisor: runs sessions (contract 7 and 8). It feeds each session's SessionMachine and
// performs the actions it returns: create the TUN, spawn the provider unprivileged from the
// verified store copy, talk io.culvert.Provider over the socketpair, apply and revert network
// settings, watch the pidfd and the output pipe, and keep the timers (start deadline, stop grace,
// restart backoff, stable period, counters).

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertVarlink
import Dispatch
import Foundation
import Logging

final class SessionSupervisor: @unchecked Sendable {  // confined to `queue`
    /// Version of the channel protocol sent in SessionContext.
    static let channelProtocol: Int64 = 1

    let configuration: SupervisorConfiguration
    let queue: DispatchQueue
    let logger: Logger
    let providerInterface: VarlinkInterface
    let launcher: ProviderLauncher
    /// Where session events go (the same stream ManagerService publishes to).
    let events: EventStream
    /// Profiles and extensions, for launches nobody hands a target to (restarts, upgrades, re-adoption).
    unowned let targets: any LaunchTargetDirectory
    var sessions: [String: TunnelSession] = [:]
    /// While a re-exec restores sessions, their re-adoption is not news: no events.
    var quietTransitions = false
    /// App messages waiting for a provider's answer.
    let messages: ProviderMessages
    /// Extensions being upgraded live (SessionSupervisor+Handover).
    var upgradesInProgress: Set<String> = []
    /// Runs replaced by a newer version that have not exited yet (nothing else holds them).
    var superseded: [ObjectIdentifier: ProviderRun] = [:]
    var netlink: NetlinkRouteSocket?
    var statsTimer: (any DispatchSourceTimer)?
    /// Link and address events (SessionSupervisor+NetworkEvents), opened with the first session.
    var monitor: NetworkEventMonitor?
    var monitorSource: (any DispatchSourceRead)?
    /// Tunnel DNS, applied and reverted off the manager queue.
    let dns: SessionDNS

    init(
        configuration: SupervisorConfiguration, stateDirectory: String, queue: DispatchQueue, logger: Logger, events: EventStream,
        targets: any LaunchTargetDirectory
    ) {
        self.configuration = configuration
        self.events = events
        self.targets = targets
        self.queue = queue
        self.logger = logger
        dns = SessionDNS(
            configurator: DNSConfigurator(
                backend: configuration.dnsBackend.backend(resolvConfPath: configuration.resolvConfPath),
                stateDirectory: stateDirectory + "/dns"),
            managerQueue: queue)
        // The bundled definition is ours and known-good; failing to parse it is a build defect.
        providerInterface = try! VarlinkInterface(parsing: VarlinkBundledInterfaces.ioCulvertProvider)
        messages = ProviderMessages(queue: queue)
        launcher = ProviderLauncher(configuration: configuration, providerInterface: providerInterface, queue: queue, logger: logger)
    }

    var sortedSessions: [SessionInfo] { sessions.keys.sorted().compactMap { sessions[$0]?.info } }

    func routeSocket() throws(NetlinkError) -> NetlinkRouteSocket {
        if let netlink { return netlink }
        let socket = try NetlinkRouteSocket()
        netlink = socket
        return socket
    }

    // MARK: requests from clients

    func connect(_ target: LaunchTarget, actor: Actor?, wait: Bool, replier: VarlinkReplier?) {
        let profile = target.profile
        let session =
            sessions[profile.name]
            ?? TunnelSession(profile: profile, extensionVersion: target.extensionInfo.version, timing: configuration.timing)
        sessions[profile.name] = session
        session.machine.alwaysOn = profile.alwaysOn
        session.profileRemoved = false
        if !session.machine.state.isActive {
            session.pendingActor = actor
            session.pendingTarget = target
            session.info.requestedAt = WallClock.rfc3339Now()
        }
        if let replier, wait {
            session.connectWaiters.append(replier)
            replier.onCancel = { [weak session] in session?.connectWaiters.removeAll { $0 === replier } }
        }
        feed(.connect, session)
        if let replier, !wait { replySession(session, replier) }
    }

    func disconnect(profileName: String, reason: StopReason, wait: Bool, replier: VarlinkReplier?) -> Bool {
        guard let session = sessions[profileName] else { return false }
        let waiting = wait && session.machine.state.isActive
        if let replier, waiting {
            session.disconnectWaiters.append(replier)
            replier.onCancel = { [weak session] in session?.disconnectWaiters.removeAll { $0 === replier } }
        }
        feed(.disconnect(reason), session)
        if let replier, !waiting { replySession(session, replier) }
        return true
    }

    /// The profile is gone: stop its session and mark it invalid.
    func profileRemoved(_ name: String) {
        guard let session = sessions[name] else { return }
        session.profileRemoved = true
        if session.machine.state.isActive {
            feed(.disconnect(.profileRemoved), session)
        } else {
            perform(session.machine.invalidate(reason: "profile_removed"), session)
        }
    }

    func sessionLog(profileName: String) -> [String]? { sessions[profileName]?.logLines }

    /// The executables (store copies) of every running provider.
    var runningExecutables: [String] { sessions.values.compactMap { $0.run?.record?.executable } }

    /// Profiles whose session runs a provider of `identifier` (or is waiting to restart one).
    func activeProfiles(usingExtension identifier: String) -> [String] {
        sessions.values.filter {
            $0.info.extensionIdentifier == identifier && ($0.machine.state.isActive || $0.machine.restartPending)
        }.map(\.profileName).sorted()
    }

    func sendMessage(profileName: String, data: String, replier: VarlinkReplier) {
        guard let session = sessions[profileName] else {
            replier.fail(VarlinkError("io.culvert.Manager.SessionNotFound", ["profile": .string(profileName)]))
            return
        }
        let state = session.machine.state
        guard let run = session.run, state == .connected || state == .reasserting else {
            replier.fail(
                VarlinkError(
                    "io.culvert.Manager.ProviderUnavailable", ["profile": .string(profileName), "state": .string(state.rawValue)]))
            return
        }
        messages.send(data, to: run, profile: profileName, replier: replier)
    }

    /// Nothing in flight that a re-exec would cut short: no session starting or stopping, nobody
    /// waiting on one, no app message awaiting its answer.
    var isQuiescent: Bool {
        messages.pending == 0 && dns.inFlight == 0
            && sessions.values.allSatisfy {
                $0.suspendedActions == nil &&
                $0.machine.state != .connecting && $0.machine.state != .disconnecting && $0.connectWaiters.isEmpty
                    && $0.disconnectWaiters.isEmpty
            }
    }

    /// The running providers' output so far, by profile, for a re-exec to carry.
    var carriedLogs: [String: [String]] {
        sessions.compactMapValues { session in session.run.map { $0.log.lines } }
    }

    /// After a re-exec: the carried view of every session (state, reason, who connected it,
    /// counters, last failure) and the providers' output so far. Re-adopted sessions keep what
    /// their run says about the process; sessions without a provider come back as they were.
    func restoreCarried(sessions carried: [SessionInfo], logs: [String: [String]]) {
        for info in carried {
            if let session = sessions[info.profile], let run = session.run {
                let live = session.info
                session.info = info
                session.info.pid = live.pid
                session.info.interface = live.interface
                var log = ProcessLog()
                for line in logs[info.profile] ?? [] { log.append(Array((line + "\n").utf8)) }
                log.append(run.log.lines.flatMap { Array(($0 + "\n").utf8) })
                run.log = log
            } else if !info.state.isActive, sessions[info.profile] == nil, let target = targets.launchTarget(profileName: info.profile) {
                let session = TunnelSession(
                    profile: target.profile, extensionVersion: info.extensionVersion, timing: configuration.timing)
                session.info = info
                sessions[info.profile] = session
            }
        }
    }

    /// Graceful daemon stop: every provider is asked to stop, killed after the grace period, and
    /// every network setting (DNS included) is reverted. Called off the manager queue.
    func stopAll(timeout: Duration) async {
        dispatchPrecondition(condition: .notOnQueue(queue))
        queue.sync {
            for session in sessions.values where session.machine.state.isActive {
                feed(.disconnect(.daemonStopping), session)
            }
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline, queue.sync(execute: { sessions.values.contains { $0.run != nil } }) {
            try? await Task.sleep(for: .milliseconds(20))  // try?: a cancelled sleep just polls sooner
        }
        queue.sync {
            for session in sessions.values { if let run = session.run { killRun(run) } }
        }
        try? await Task.sleep(for: .milliseconds(100))  // try?: as above
        dns.drain()
    }

    // MARK: the machine

    /// Feeds an input to the session's machine and performs what it returns. While the session's
    /// actions are suspended (a teardown waiting for its DNS revert), inputs wait their turn, so
    /// transitions are reported in the order the machine made them.
    func feed(_ input: SessionMachine.Input, _ session: TunnelSession) {
        dispatchPrecondition(condition: .onQueue(queue))
        if session.suspendedActions != nil {
            session.deferredInputs.append(input)
            return
        }
        perform(session.machine.handle(input), session)
    }

    func perform(_ actions: [SessionMachine.Action], _ session: TunnelSession) {
        var remaining = actions[...]
        while let action = remaining.popFirst() {
            switch action {
            case .launch:
                launch(session)
            case .stop(let reason):
                stop(session, reason: reason)
            case .kill:
                if let run = session.run { killRun(run) }
            case .tearDown:
                guard let dnsPending = tearDown(session) else { continue }
                // The rest waits until the DNS is back as it was: a Disconnect's reply must not race it.
                session.suspendedActions = Array(remaining)
                dns.revert(session: dnsPending) { [self] outcome in
                    if case .failure(let error) = outcome { logger.error("session \(session.profileName): reverting DNS: \(error)") }
                    if case .success(let done?) = outcome { logger.info("session \(session.profileName): DNS reverted (\(done))") }
                    resume(session)
                }
                return
            case .scheduleRestart(let delay, let attempt):
                scheduleRestart(session, after: delay, attempt: attempt)
            case .cancelRestart:
                session.restartTimer?.cancel()
                session.restartTimer = nil
                session.info.nextRestartAt = nil
            case .armStableTimer:
                session.stableTimer?.cancel()
                let item = DispatchWorkItem { [weak self, weak session] in
                    guard let self, let session else { return }
                    self.feed(.stablePeriodElapsed, session)
                    session.info.restarts = Int64(session.machine.restarts)
                }
                session.stableTimer = item
                queue.asyncAfter(deadline: .now() + configuration.timing.stablePeriod.dispatchInterval, execute: item)
            case .transition(let from, let to, let reason):
                transition(session, from: from, to: to, reason: reason)
            case .finishConnectWaiters(let failure):
                let waiters = session.connectWaiters
                session.connectWaiters = []
                for waiter in waiters {
                    if let failure = failure.map({ withLog($0, session) }) {
                        waiter.fail(
                            VarlinkError(
                                "io.culvert.Manager.ConnectFailed",
                                [
                                    "reason": .string(failure.reason.rawValue), "description": .string(failure.description),
                                    "log": .array(failure.log.map { .string($0) }),
                                ]))
                    } else {
                        replySession(session, waiter)
                    }
                }
            case .finishDisconnectWaiters:
                let waiters = session.disconnectWaiters
                session.disconnectWaiters = []
                waiters.forEach { replySession(session, $0) }
            }
        }
    }

    private func transition(_ session: TunnelSession, from: SessionState, to: SessionState, reason: String) {
        session.info.state = to
        session.info.reason = reason
        session.info.restarts = Int64(session.machine.restarts)
        session.info.failure = session.machine.lastFailure.map { withLog($0, session) }
        if to == .connected && from == .connecting { session.info.connectedAt = WallClock.rfc3339Now() }
        if to == .connecting { session.info.nextRestartAt = nil }
        if quietTransitions { return }
        var body = EventBody(kind: .sessionState, reason: reason, session: session.info, previousState: from)
        if to == .connecting, let actor = session.pendingActor { body.actor = actor }
        let event = events.publish(body)
        logger.info("session \(session.profileName): \(from.rawValue) → \(to.rawValue) (\(reason)) seq \(event.seq)")
        if to == .disconnected || to == .invalid { updateStatsTimer() }
        if to == .disconnected, session.profileRemoved {
            perform(session.machine.invalidate(reason: "profile_removed"), session)
        }
    }

    /// A failure decided without the provider's output (a timeout, a stop) gets its last lines.
    private func withLog(_ failure: SessionFailure, _ session: TunnelSession) -> SessionFailure {
        guard failure.log.isEmpty, let log = session.run?.log ?? session.lastLog else { return failure }
        var enriched = failure
        enriched.log = log.lastLines(ProviderRun.failureLogLines)
        return enriched
    }

    private func replySession(_ session: TunnelSession, _ replier: VarlinkReplier) {
        replier.reply(encodedParameters: WireEncoding.encode(WireEncoding.SessionReply(session: session.info, seq: events.lastSeq)))
    }

    // MARK: launch

    private func launchFailed(_ session: TunnelSession, _ reason: SessionFailure.Reason, _ description: String) {
        logger.error("session \(session.profileName): \(description)")
        feed(.launchFailed(SessionFailure(reason: reason, description: description)), session)
    }

    private func launch(_ session: TunnelSession) {
        // Connect hands its target over; a restart looks the profile up afresh (it may have changed).
        let handed = session.pendingTarget
        session.pendingTarget = nil
        guard let target = handed ?? targets.launchTarget(profileName: session.profileName) else {
            launchFailed(session, .extensionNotUsable, "the profile or its extension is no longer usable")
            return
        }
        let (profile, extensionInfo, secrets) = (target.profile, target.extensionInfo, target.secrets)
        let sessionID = WallClock.randomIdentifier()
        let run: ProviderRun
        do {
            run = try launcher.launch(
                target, tun: .create, sessionID: sessionID, requestedAt: session.info.requestedAt, connectedBy: session.pendingActor)
        } catch {
            launchFailed(session, .spawnFailed, error.description)
            return
        }
        let channel = run.channel
        let tun = run.tun
        startMonitor()
        session.run = run
        session.info.id = sessionID
        saveRecord(run)
        session.info.pid = Int64(run.process.processID)
        session.info.uid = run.record.map { Int64($0.uid) }
        session.info.interface = tun.name
        session.info.extensionVersion = extensionInfo.version
        session.info.connectedBy = session.pendingActor
        session.info.connectedAt = nil
        session.info.counters = SessionCounters()

        startWatching(run, session: session)
        run.startDeadline = schedule(after: configuration.timing.startTimeout) { [weak self, weak session, weak run] in
            guard let self, let session, let run, session.run === run else { return }
            self.logger.warning("session \(session.profileName): StartTunnel did not finish in time; killing the provider")
            self.feed(.startTimedOut, session)
        }
        let context: JSONValue = [
            "profile": .string(profile.name), "session": .string(session.info.id), "interface": .string(tun.name),
            "protocol": .int(Self.channelProtocol),
        ]
        let parameters: JSONValue = [
            "session": context, "options": .object(profile.options.mapValues { .string($0) }),
            "secrets": .object(secrets.mapValues { .string($0) }),
        ]
        channel.call("io.culvert.Provider.StartTunnel", parameters: parameters) { [weak self, weak session, weak run] result in
            guard let self, let session, let run, session.run === run else { return }
            run.startDeadline?.cancel()
            run.startDeadline = nil
            switch result {
            case .success:
                self.feed(.started, session)
                run.record?.connectedAt = session.info.connectedAt
                self.saveRecord(run)
                self.updateStatsTimer()
            case .failure(.remote(let error)):
                run.drainOutput()
                let description = error.parameters["description"]?.stringValue ?? error.description
                self.feed(
                    .startFailed(
                        SessionFailure(
                            reason: .startFailed, description: "StartTunnel failed: \(description)",
                            log: run.log.lastLines(ProviderRun.failureLogLines))), session)
            case .failure(.closed):
                break  // the exit (pidfd) reports what happened
            }
        }
    }

    /// Wires a re-adopted run into its session: channel, exit and output watching, the connected
    /// state (reason readopted), counters and the link monitor.
    func adoptRun(_ run: ProviderRun, session: TunnelSession) {
        startMonitor()
        startWatching(run, session: session)
        perform(session.machine.handle(.readopted), session)
        saveRecord(run)
        updateStatsTimer()
    }

    // MARK: one route for every run's exit and calls

    /// Starts the run's exit and output sources and serves its channel; both route by the run's role.
    func startWatching(_ run: ProviderRun, session: TunnelSession) {
        run.watch(on: queue) { [weak self, weak session] run in
            guard let self, let session else { return }
            self.runExited(run, session: session)
        }
        run.channel.onCall = { [weak self, weak session, weak run] call, responder in
            guard let self, let session, let run else {
                return responder.fail(VarlinkError("io.culvert.Provider.NotReady", ["state": .string("disconnected")]))
            }
            self.providerCall(call, responder: responder, run: run, session: session)
        }
        run.channel.onClose = { [weak self] reason in
            self?.logger.debug("session \(session.profileName): provider channel closed (\(reason))")
        }
        run.channel.start()
    }

    /// A run's pidfd polled readable. An upgrade that watches the run decides first; otherwise the
    /// session's run ending is the session's provider exiting, and a superseded one is released.
    func runExited(_ run: ProviderRun, session: TunnelSession) {
        let ended: ProcessExit?
        do { ended = try run.collectExit() } catch {
            logger.error("session \(session.profileName): waiting for provider \(run.process.processID): \(error)")
            ended = run.exit == nil ? .signaled(9) : nil
            run.exit = run.exit ?? ended
        }
        guard let exit = ended else { return }  // not ended yet, or already handled
        if let upgrade = session.upgrade, upgrade.oldRun === run, upgrade.machine.watchesOldExit { return upgrade.oldRunExited() }
        if let upgrade = session.upgrade, upgrade.newRun === run, upgrade.machine.watchesNewRun { return upgrade.newRunExited(exit) }
        switch run.role {
        case .session where session.run === run:
            sessionRunExited(session, run)
        case .session, .successor, .superseded:
            logger.info("session \(session.profileName): provider \(run.process.processID) (\(run.role)) \(exit)")
            superseded[ObjectIdentifier(run)] = nil
            if session.run !== run { run.close() }
        }
    }

    /// The session's own provider ended (its exit collected): the machine decides what follows.
    func sessionRunExited(_ session: TunnelSession, _ run: ProviderRun) {
        guard let exit = run.exit else { return }
        logger.notice("session \(session.profileName): provider \(run.process.processID) \(exit)")
        feed(.providerExited(run.failure(for: exit)), session)
        // A machine that ignored the exit (it should not) must still not leak the run.
        if session.run === run { tearDown(session) }
    }

    /// A call from a provider, routed by its run's role.
    func providerCall(_ call: VarlinkPeerCall, responder: VarlinkPeerResponder, run: ProviderRun, session: TunnelSession) {
        switch run.role {
        case .session where session.run === run:
            handleProviderCall(call, responder: responder, session: session, run: run)
        case .successor where session.upgrade?.newRun === run:
            session.upgrade?.successorCall(call, responder: responder)
        case .superseded:
            responder.fail(VarlinkError("io.culvert.Provider.NotReady", ["state": .string("superseded")]))
        case .session, .successor:
            responder.fail(VarlinkError("io.culvert.Provider.NotReady", ["state": .string("disconnected")]))
        }
    }

    /// Runs `body` on the manager queue after `delay`; cancel the returned item to call it off.
    func schedule(after delay: Duration, _ body: @escaping () -> Void) -> DispatchWorkItem {
        let item = DispatchWorkItem(block: body)
        queue.asyncAfter(deadline: .now() + delay.dispatchInterval, execute: item)
        return item
    }

    func saveRecord(_ run: ProviderRun) {
        guard let record = run.record else { return }
        do { try record.write(runtimeDirectory: configuration.runtimeDirectory) } catch {
            logger.warning("session \(record.profile): writing its record: \(error); it will not survive a culvertd crash")
        }
    }

    // MARK: stop and exit

    private func stop(_ session: TunnelSession, reason: StopReason) {
        guard let run = session.run else { return }
        run.startDeadline?.cancel()
        run.startDeadline = nil
        let grace = DispatchWorkItem { [weak self, weak session, weak run] in
            guard let self, let session, let run, session.run === run else { return }
            self.logger.warning("session \(session.profileName): provider did not exit within the stop grace period; killing it")
            self.feed(.stopTimedOut, session)
        }
        run.stopDeadline = grace
        queue.asyncAfter(deadline: .now() + configuration.timing.stopTimeout.dispatchInterval, execute: grace)
        run.channel.call("io.culvert.Provider.StopTunnel", parameters: ["reason": .string(reason.rawValue)]) { _ in
            // The exit is what ends the stop; the reply only says the provider heard it.
        }
    }

    func killRun(_ run: ProviderRun) {
        run.killedByDaemon = true
        do { _ = try run.process.kill() } catch { logger.error("killing provider \(run.process.processID): \(error)") }
    }

    /// Takes the run away: network settings, TUN, channel, record. Returns the session id whose
    /// DNS still has to be reverted (asynchronously), or nil if the session had none.
    @discardableResult
    func tearDown(_ session: TunnelSession) -> String? {
        guard let run = session.run else { return nil }
        session.run = nil
        if run.exit == nil { killRun(run) }
        revertNetwork(run, session: session)
        run.drainOutput()
        session.lastLog = run.log
        SessionRecord.remove(runtimeDirectory: configuration.runtimeDirectory, id: run.record?.id ?? session.info.id)
        let hadDNS = session.info.dnsBackend != nil
        session.info.pid = nil
        session.info.interface = nil
        session.info.addresses = []
        session.info.routes = []
        session.info.fullTunnel = false
        showDNS(nil, session)
        reap(run)
        return hadDNS ? session.info.id : nil
    }

    /// Closes what the run holds; one culvertd killed is reaped off the manager queue.
    func reap(_ run: ProviderRun) {
        guard run.exit == nil else { return run.close() }
        let process = run.process
        run.close(keepingProcess: true)
        // SIGKILL was sent: reap it so no zombie is left, without waiting on the manager queue.
        DispatchQueue.global().async {
            _ = try? process.waitForExit(timeout: .seconds(1))  // try?: nothing more to do if it cannot be reaped
            process.close()
        }
    }

    /// Continues a session's suspended actions, then the inputs that arrived meanwhile.
    private func resume(_ session: TunnelSession) {
        guard let actions = session.suspendedActions else { return }
        session.suspendedActions = nil
        perform(actions, session)
        while session.suspendedActions == nil, !session.deferredInputs.isEmpty {
            perform(session.machine.handle(session.deferredInputs.removeFirst()), session)
        }
    }

    private func scheduleRestart(_ session: TunnelSession, after delay: Duration, attempt: Int) {
        session.restartTimer?.cancel()
        let item = DispatchWorkItem { [weak self, weak session] in
            guard let self, let session else { return }
            session.restartTimer = nil
            self.feed(.restartDue, session)
        }
        session.restartTimer = item
        session.info.nextRestartAt = WallClock.rfc3339(after: delay)
        session.info.restarts = Int64(attempt)
        logger.notice("session \(session.profileName): restart \(attempt) in \(delay)")
        events.publish(EventBody(kind: .sessionState, reason: "restart_scheduled", session: session.info, previousState: session.info.state))
        queue.asyncAfter(deadline: .now() + delay.dispatchInterval, execute: item)
    }



}
