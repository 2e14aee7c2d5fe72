// SessionMachine: the life of one profile's session as a value type. Inputs are what happened
// (a request, a provider reply, an exit, a timer); the result is the actions the supervisor
// must take. It holds no resources and never blocks, so every path is unit-testable.
//
//   disconnected ─connect─► connecting ─started─► connected ◄─reasserting(false)─ reasserting
//        ▲   ▲                  │ failed/timeout/exit    │ reasserting(true) ─────────►┘
//        │   └── restartDue ◄───┤ (alwaysOn: backoff)     │ exit (failure)
//        │                       ▼                         ▼
//        └──── exit ◄──── disconnecting ◄── disconnect / cancel (from any active state)
//
//   A live upgrade without handover: connected ─upgradeRestarting─► reasserting ─upgradeRestarted─► connected

/// Timing policy of a session's supervisor. All values are configurable daemon flags.
public struct SessionTiming: Sendable, Hashable {
    /// How long StartTunnel may take before the provider is killed.
    public var startTimeout: Duration
    /// How long a stopping provider may take to exit before it is killed.
    public var stopTimeout: Duration
    /// First restart delay of an alwaysOn profile; doubles per consecutive failure.
    public var restartBaseDelay: Duration
    /// Longest restart delay.
    public var restartMaximumDelay: Duration
    /// Connected this long, a session's restart count (and so its delay) resets.
    public var stablePeriod: Duration

    public static let defaultStartTimeout: Duration = .seconds(30)
    public static let defaultStopTimeout: Duration = .seconds(5)
    public static let defaultRestartBaseDelay: Duration = .seconds(1)
    public static let defaultRestartMaximumDelay: Duration = .seconds(60)
    public static let defaultStablePeriod: Duration = .seconds(60)

    public init(
        startTimeout: Duration = defaultStartTimeout, stopTimeout: Duration = defaultStopTimeout,
        restartBaseDelay: Duration = defaultRestartBaseDelay, restartMaximumDelay: Duration = defaultRestartMaximumDelay,
        stablePeriod: Duration = defaultStablePeriod
    ) {
        self.startTimeout = startTimeout
        self.stopTimeout = stopTimeout
        self.restartBaseDelay = restartBaseDelay
        self.restartMaximumDelay = restartMaximumDelay
        self.stablePeriod = stablePeriod
    }

    /// The delay before restart number `attempt` (1-based): base × 2^(attempt-1), capped.
    public func restartDelay(attempt: Int) -> Duration {
        var delay = restartBaseDelay
        for _ in 1..<max(1, min(attempt, 32)) {
            delay = delay * 2
            if delay >= restartMaximumDelay { return restartMaximumDelay }
        }
        return min(delay, restartMaximumDelay)
    }
}

/// Why a session is stopped; sent to the provider as StopTunnel's reason.
public enum StopReason: String, Sendable, Hashable, Codable {
    case userRequest = "user_request"
    case superseded
    case providerFailed = "provider_failed"
    case providerCancelled = "provider_cancelled"
    case daemonStopping = "daemon_stopping"
    case profileRemoved = "profile_removed"
    case extensionRemoved = "extension_removed"
}

public struct SessionMachine: Sendable, Hashable {
    public enum Input: Sendable, Hashable {
        /// A client (or the daemon, for alwaysOn) asks for the tunnel.
        case connect
        /// Someone asks for the tunnel to stop.
        case disconnect(StopReason)
        /// The provider process could not be started; nothing runs.
        case launchFailed(SessionFailure)
        /// StartTunnel replied successfully.
        case started
        /// StartTunnel replied with an error (the provider still runs until stopped).
        case startFailed(SessionFailure)
        /// The start deadline passed.
        case startTimedOut
        /// The provider called SetReasserting.
        case reasserting(Bool)
        /// The provider called CancelTunnel.
        case cancelled(SessionFailure)
        /// The provider process ended. `failure` describes it when it was not asked to stop.
        case providerExited(SessionFailure)
        /// A stopping provider did not exit in time.
        case stopTimedOut
        /// The backoff delay of a scheduled restart has passed.
        case restartDue
        /// The session has been connected for the stable period.
        case stablePeriodElapsed
        /// A culvertd started after a crash took back this session's running provider.
        case readopted
        /// A live upgrade restarts the provider (no handover): reasserting until `upgradeRestarted`.
        case upgradeRestarting
        /// The new version of the provider runs the tunnel.
        case upgradeRestarted
    }

    public enum Action: Sendable, Hashable {
        /// Create the TUN and channel, spawn the provider, call StartTunnel, arm the start deadline.
        case launch
        /// Call StopTunnel with the reason and arm the stop deadline.
        case stop(StopReason)
        /// SIGKILL the provider (it is not cooperating).
        case kill
        /// The provider is gone: revert network settings and DNS, close the TUN and channel.
        case tearDown
        case scheduleRestart(after: Duration, attempt: Int)
        case cancelRestart
        case armStableTimer
        /// Report the transition (an event with a typed reason).
        case transition(from: SessionState, to: SessionState, reason: String)
        /// Answer clients waiting in Connect: success, or the failure.
        case finishConnectWaiters(SessionFailure?)
        /// Answer clients waiting in Disconnect.
        case finishDisconnectWaiters
    }

    public private(set) var state: SessionState = .disconnected
    public private(set) var reason = "created"
    /// Whether someone wants the tunnel up (set by connect, cleared by disconnect).
    public private(set) var wanted = false
    /// Consecutive failed runs since the session was last stable.
    public private(set) var restarts = 0
    public private(set) var restartPending = false
    /// The failure that ended the last run (kept for display after the session ended).
    public private(set) var lastFailure: SessionFailure?
    /// Set while stopping: what to report when the provider has exited.
    private struct Stopping: Sendable, Hashable {
        var reason: String
        /// The run's failure, if it was one.
        var failure: SessionFailure?
        /// What clients still waiting in Connect are told.
        var connectFailure: SessionFailure
    }
    private var stopping: Stopping?
    public var alwaysOn: Bool
    public let timing: SessionTiming

    public init(alwaysOn: Bool, timing: SessionTiming) {
        self.alwaysOn = alwaysOn
        self.timing = timing
    }

    public static func == (a: SessionMachine, b: SessionMachine) -> Bool {
        a.state == b.state && a.reason == b.reason && a.wanted == b.wanted && a.restarts == b.restarts
            && a.restartPending == b.restartPending && a.lastFailure == b.lastFailure && a.alwaysOn == b.alwaysOn
            && a.timing == b.timing && a.stopping == b.stopping
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(state)
        hasher.combine(reason)
        hasher.combine(restarts)
    }

    /// Why an input changed nothing (`step`'s answer; `handle` returns no actions for it).
    public enum IgnoredInput: Sendable, Hashable {
        /// An event of a run that has ended: a reply, exit or provider call after the session stopped.
        case noRun
        /// A start outcome (reply, launch failure, deadline) after the start was over.
        case notStarting
        /// A provider request or upgrade step that needs a connected session, while connecting.
        case notConnected
        /// The session already is what the input asks for (reasserting twice, readopted while a provider runs).
        case alreadyThere
        /// A stop is running: its end (the provider's exit) decides what happens next.
        case stopping
        /// A timer that no longer applies (no restart pending, nothing stopping or starting, not connected).
        case staleTimer
    }

    /// What an input did: actions (possibly none, when only the machine's fields changed), or why it was ignored.
    public enum Outcome: Sendable, Hashable {
        case actions([Action])
        case ignored(IgnoredInput)
    }

    /// Feeds one input; returns the actions to perform, in order (none for an ignored input).
    public mutating func handle(_ input: Input) -> [Action] {
        guard case .actions(let actions) = step(input) else { return [] }
        return actions
    }

    /// Feeds one input. Every state × input pair is listed: late and duplicate inputs (a reply after
    /// a timeout, a timer after a stop) change nothing and say why.
    public mutating func step(_ input: Input) -> Outcome {
        switch (state, input) {
        case (.disconnected, .connect), (.invalid, .connect):
            wanted = true
            var actions: [Action] = []
            if restartPending {
                restartPending = false
                actions.append(.cancelRestart)
            }
            lastFailure = nil
            return .actions(actions + move(to: .connecting, "user_request") + [.launch])
        case (.disconnected, .readopted), (.invalid, .readopted):
            wanted = true
            return .actions(move(to: .connected, "readopted") + [.armStableTimer])
        case (.disconnected, .restartDue):
            guard wanted, restartPending else { return .ignored(.staleTimer) }
            restartPending = false
            return .actions(move(to: .connecting, "restart") + [.launch])
        case (.disconnected, .disconnect(let why)):
            wanted = false
            guard restartPending else { return .actions([.finishDisconnectWaiters]) }
            restartPending = false
            return .actions([.cancelRestart] + move(to: .disconnected, why.rawValue) + [.finishDisconnectWaiters])
        case (.connecting, .connect):
            wanted = true
            return .actions([])
        case (.connected, .connect), (.reasserting, .connect):
            wanted = true
            return .actions([.finishConnectWaiters(nil)])
        case (.disconnecting, .connect):
            // The stop runs to completion first; the provider is then started afresh.
            wanted = true
            return .actions([])
        case (.connecting, .launchFailed(let failure)):
            return .actions(finishRun(failure: failure, reason: failure.reason.rawValue, connectFailure: failure))
        case (.connecting, .started):
            return .actions(move(to: .connected, "provider_started") + [.finishConnectWaiters(nil), .armStableTimer])
        case (.connecting, .startFailed(let failure)):
            return .actions(beginStop(.providerFailed, reason: failure.reason.rawValue, failure: failure))
        case (.connecting, .startTimedOut):
            let failure = SessionFailure(reason: .startTimeout, description: "StartTunnel did not finish within \(timing.startTimeout)")
            stopping = Stopping(reason: failure.reason.rawValue, failure: failure, connectFailure: failure)
            return .actions(move(to: .disconnecting, failure.reason.rawValue) + [.kill])
        case (.connected, .reasserting(true)):
            return .actions(move(to: .reasserting, "provider_reasserting"))
        case (.reasserting, .reasserting(false)):
            return .actions(move(to: .connected, "provider_reasserted"))
        case (.connected, .upgradeRestarting):
            return .actions(move(to: .reasserting, "extension_upgrade"))
        case (.reasserting, .upgradeRestarted):
            return .actions(move(to: .connected, "extension_upgraded"))
        case (.connecting, .cancelled(let failure)), (.connected, .cancelled(let failure)), (.reasserting, .cancelled(let failure)):
            return .actions(beginStop(.providerCancelled, reason: failure.reason.rawValue, failure: failure))
        case (.connecting, .disconnect(let why)), (.connected, .disconnect(let why)), (.reasserting, .disconnect(let why)):
            wanted = false
            return .actions(beginStop(why, reason: why.rawValue, failure: nil))
        case (.disconnecting, .disconnect):
            wanted = false
            return .actions([])
        case (.connecting, .providerExited(let failure)), (.connected, .providerExited(let failure)),
            (.reasserting, .providerExited(let failure)):
            return .actions(finishRun(failure: failure, reason: failure.reason.rawValue, connectFailure: failure))
        case (.disconnecting, .providerExited(let failure)):
            let pending = stopping
            stopping = nil
            return .actions(
                finishRun(
                    failure: pending?.failure, reason: pending?.reason ?? failure.reason.rawValue, connectFailure: pending?.connectFailure))
        case (.disconnecting, .stopTimedOut):
            return .actions([.kill])
        case (.connected, .stablePeriodElapsed), (.reasserting, .stablePeriodElapsed):
            restarts = 0
            return .actions([])

        // Nothing runs: whatever a past run still sends is late. A Disconnect of an invalid session has nobody to answer.
        case (.disconnected, .launchFailed), (.disconnected, .started), (.disconnected, .startFailed), (.disconnected, .reasserting),
            (.disconnected, .cancelled), (.disconnected, .providerExited), (.disconnected, .upgradeRestarting),
            (.disconnected, .upgradeRestarted), (.invalid, .disconnect), (.invalid, .launchFailed), (.invalid, .started),
            (.invalid, .startFailed), (.invalid, .reasserting), (.invalid, .cancelled), (.invalid, .providerExited),
            (.invalid, .upgradeRestarting), (.invalid, .upgradeRestarted):
            return .ignored(.noRun)
        case (.disconnected, .startTimedOut), (.disconnected, .stopTimedOut), (.disconnected, .stablePeriodElapsed),
            (.invalid, .startTimedOut), (.invalid, .stopTimedOut), (.invalid, .restartDue), (.invalid, .stablePeriodElapsed):
            return .ignored(.staleTimer)
        // Starting: the provider's own reasserting and an upgrade wait for it to be connected.
        case (.connecting, .reasserting), (.connecting, .upgradeRestarting), (.connecting, .upgradeRestarted):
            return .ignored(.notConnected)
        case (.connecting, .readopted), (.connected, .readopted), (.reasserting, .readopted):
            return .ignored(.alreadyThere)
        case (.connecting, .stopTimedOut), (.connecting, .restartDue), (.connecting, .stablePeriodElapsed):
            return .ignored(.staleTimer)
        // Running: the start is over.
        case (.connected, .launchFailed), (.connected, .started), (.connected, .startFailed), (.connected, .startTimedOut),
            (.reasserting, .launchFailed), (.reasserting, .started), (.reasserting, .startFailed), (.reasserting, .startTimedOut):
            return .ignored(.notStarting)
        case (.connected, .reasserting(false)), (.connected, .upgradeRestarted), (.reasserting, .reasserting(true)),
            (.reasserting, .upgradeRestarting):
            return .ignored(.alreadyThere)
        case (.connected, .stopTimedOut), (.connected, .restartDue), (.reasserting, .stopTimedOut), (.reasserting, .restartDue):
            return .ignored(.staleTimer)
        // Stopping: the exit ends the stop; nothing else changes its course.
        case (.disconnecting, .launchFailed), (.disconnecting, .started), (.disconnecting, .startFailed),
            (.disconnecting, .startTimedOut), (.disconnecting, .reasserting), (.disconnecting, .cancelled),
            (.disconnecting, .readopted), (.disconnecting, .upgradeRestarting), (.disconnecting, .upgradeRestarted):
            return .ignored(.stopping)
        case (.disconnecting, .restartDue), (.disconnecting, .stablePeriodElapsed):
            return .ignored(.staleTimer)
        }
    }

    /// Marks the session invalid (its profile or extension is gone); only when nothing runs.
    public mutating func invalidate(reason why: String) -> [Action] {
        guard !state.isActive else { return [] }
        wanted = false
        var actions: [Action] = []
        if restartPending {
            restartPending = false
            actions.append(.cancelRestart)
        }
        return actions + move(to: .invalid, why)
    }

    private mutating func move(to next: SessionState, _ why: String) -> [Action] {
        let previous = state
        state = next
        reason = why
        return [.transition(from: previous, to: next, reason: why)]
    }

    private mutating func beginStop(_ stopReason: StopReason, reason why: String, failure: SessionFailure?) -> [Action] {
        let connectFailure =
            failure ?? SessionFailure(reason: .disconnected, description: "the session was stopped (\(why)) before the tunnel was up")
        stopping = Stopping(reason: why, failure: failure, connectFailure: connectFailure)
        return move(to: .disconnecting, why) + [.stop(stopReason)]
    }

    /// The provider is gone: tear down, answer waiting clients (only now, so a reply never races
    /// the teardown), then either rest or schedule a restart.
    private mutating func finishRun(failure: SessionFailure?, reason why: String, connectFailure: SessionFailure?) -> [Action] {
        lastFailure = failure ?? lastFailure
        var actions: [Action] = [.tearDown]
        actions += move(to: .disconnected, why)
        actions.append(.finishDisconnectWaiters)
        if wanted && failure == nil && why == StopReason.userRequest.rawValue {
            // A connect arrived while a user stop was running: start again now; its clients wait on.
            return actions + move(to: .connecting, "user_request") + [.launch]
        }
        if let connectFailure { actions.append(.finishConnectWaiters(connectFailure)) }
        if wanted && alwaysOn && failure != nil {
            restarts += 1
            restartPending = true
            actions.append(.scheduleRestart(after: timing.restartDelay(attempt: restarts), attempt: restarts))
        } else if failure != nil {
            wanted = false
        }
        return actions
    }
}
