// SessionSupervisor: runs sessions (contracts 7 and 8). Clients' requests arrive here from
// ManagerService with everything they need (Connect carries its LaunchTarget); each becomes an
// input to the session's SessionMachine, and this file performs the actions it returns. What the
// actions do to provider runs is in +Runs (launch through ProviderLauncher, exits and calls routed
// by the run's role, teardown), provider requests in +ProviderCalls, live upgrades in +Upgrades
// (each an UpgradeDriver), re-adoption in +Readoption, link events in +NetworkEvents, counters in
// +Counters. Events go to the shared EventStream; profiles are looked up through a
// LaunchTargetDirectory only when nobody hands a target over (restarts, upgrades, re-adoption).

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch
import FoundationEssentials
import Logging

final class SessionSupervisor: @unchecked Sendable {  // confined to `queue`
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
    /// Extensions being upgraded live (SessionSupervisor+Upgrades).
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
    /// Identities, cgroups and the system call filter of provider runs.
    let confinement: ProviderConfinement
    /// Held kill switches (SessionSupervisor+KillSwitch).
    let killSwitches: KillSwitchHolds

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
        killSwitches = KillSwitchHolds(runtimeDirectory: configuration.runtimeDirectory, logger: logger)
        confinement = ProviderConfinement(configuration: configuration, queue: queue, logger: logger)
        launcher = ProviderLauncher(
            configuration: configuration, confinement: confinement, providerInterface: providerInterface, queue: queue, logger: logger)
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
        dispatchPrecondition(condition: .onQueue(queue))
        let profile = target.profile
        let session =
            sessions[profile.name]
            ?? TunnelSession(profile: profile, extensionVersion: target.extensionInfo.version, timing: configuration.timing)
        sessions[profile.name] = session
        guard holdKillSwitch(profile, session) else {
            if let replier {
                replier.fail(
                    ManagerError.connectFailed(reason: "kill_switch_failed", description: "the kill switch could not be held", log: []))
            }
            return
        }
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
        dispatchPrecondition(condition: .onQueue(queue))
        guard let session = sessions[profileName] else { return false }
        let waiting = wait && session.machine.state.isActive
        if let replier, waiting {
            session.disconnectWaiters.append(replier)
            replier.onCancel = { [weak session] in session?.disconnectWaiters.removeAll { $0 === replier } }
        }
        if reason == .userRequest { session.releaseKillSwitch = true }
        feed(.disconnect(reason), session)
        releaseKillSwitchIfDown(session)
        if let replier, !waiting { replySession(session, replier) }
        return true
    }

    /// The profile is gone: stop its session and mark it invalid.
    func profileRemoved(_ name: String) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard let session = sessions[name] else { return }
        session.profileRemoved = true
        session.releaseKillSwitch = true
        releaseKillSwitchIfDown(session)
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
        dispatchPrecondition(condition: .onQueue(queue))
        guard let session = sessions[profileName] else {
            replier.fail(ManagerError.sessionNotFound(profile: profileName))
            return
        }
        let state = session.machine.state
        guard let run = session.run, state == .connected || state == .reasserting else {
            replier.fail(
                ManagerError.providerUnavailable(profile: profileName, state: state.rawValue))
            return
        }
        messages.send(data, to: run, profile: profileName, replier: replier)
    }

    /// Nothing in flight that a re-exec would cut short: no session starting or stopping, nobody
    /// waiting on one, no app message awaiting its answer, no DNS change or live upgrade running.
    var isQuiescent: Bool {
        messages.pending == 0 && dns.inFlight == 0 && upgradesInProgress.isEmpty
            && sessions.values.allSatisfy {
                $0.suspendedActions == nil && $0.upgrade == nil && $0.machine.state != .connecting && $0.machine.state != .disconnecting
                    && $0.connectWaiters.isEmpty
                    && $0.disconnectWaiters.isEmpty
            }
    }

    /// The running providers' seccomp listeners and counts, for a re-exec to carry.
    var carriedListeners: [ReexecState.CarriedListener] {
        sessions.values.compactMap { session in
            guard let run = session.run, let id = run.record?.id, let confinement = run.confinement,
                let listener = confinement.listener
            else { return nil }
            let denials = confinement.notifier?.denials ?? SeccompDenials()
            return ReexecState.CarriedListener(
                recordID: id, descriptor: listener.rawValue, deniedCalls: denials.count, deniedCallNames: denials.recentNames)
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
        dispatchPrecondition(condition: .onQueue(queue))
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
        dispatchPrecondition(condition: .onQueue(queue))
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
                            ManagerError.connectFailed(reason: failure.reason.rawValue, description: failure.description, log: failure.log))
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

    func transition(_ session: TunnelSession, from: SessionState, to: SessionState, reason: String) {
        session.info.state = to
        session.info.reason = reason
        session.info.restarts = Int64(session.machine.restarts)
        session.info.failure = session.machine.lastFailure.map { withLog($0, session) }
        if to == .connected && from == .connecting { session.info.connectedAt = WallClock.rfc3339Now() }
        if to == .connecting { session.info.nextRestartAt = nil }
        // Before the event, so it shows the kill switch as released.
        if to == .disconnected || to == .invalid { releaseKillSwitchIfDown(session) }
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
    func withLog(_ failure: SessionFailure, _ session: TunnelSession) -> SessionFailure {
        guard failure.log.isEmpty, let log = session.run?.log ?? session.lastLog else { return failure }
        var enriched = failure
        enriched.log = log.lastLines(ProviderRun.failureLogLines)
        return enriched
    }

    func replySession(_ session: TunnelSession, _ replier: VarlinkReplier) {
        replier.reply(encodedParameters: WireEncoding.encode(WireEncoding.SessionReply(session: session.info, seq: events.lastSeq)))
    }

    /// Continues a session's suspended actions, then the inputs that arrived meanwhile.
    func resume(_ session: TunnelSession) {
        guard let actions = session.suspendedActions else { return }
        session.suspendedActions = nil
        perform(actions, session)
        while session.suspendedActions == nil, !session.deferredInputs.isEmpty {
            perform(session.machine.handle(session.deferredInputs.removeFirst()), session)
        }
    }

    func scheduleRestart(_ session: TunnelSession, after delay: Duration, attempt: Int) {
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
        events.publish(
            EventBody(kind: .sessionState, reason: "restart_scheduled", session: session.info, previousState: session.info.state))
        queue.asyncAfter(deadline: .now() + delay.dispatchInterval, execute: item)
    }

}
