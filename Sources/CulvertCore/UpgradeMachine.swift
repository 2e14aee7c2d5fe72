// UpgradeMachine: the live extension upgrade of one connected session as a value type (contract 9).
// Inputs are what happened (a reply, an exit, a timer, a synchronous result the machine asked for);
// the result is the actions the handover driver performs, in order. It holds no resources (runs,
// descriptors, timers stay with the driver), so every path is unit-testable without processes.
//
// Handover (bundle capability `handover`, make-before-break; the session stays connected):
//
//   idle ─begin─► spawning(target) ─spawned─► preparing ─prepared─► importing ─imported─► completed
//                      │ spawnFailed              │ abandon¹                │ abandon¹ (old resumed)
//                      ▼                          ▼                         ▼
//                    failed ◄─prepared/prepareFailed── abandonedWhilePreparing   failed
//                                 (a late success resumes the old one)
//
//   ¹ newExited, newCancelled, deadline, sessionChanged, oldExited (the session then handles that
//     exit), prepareFailed while preparing, importFailed / parametersUnavailable while importing.
//
// Stop → start (no capability; the session is reasserting meanwhile, the kept TUN holds the interface):
//
//   idle ─begin─► keepingTun ─tunKept─► stoppingOld ─oldExited─► spawning(target) ─spawned─► starting(target) ─started─► completed
//                     │ keepTunFailed        │ sessionChanged … oldExited   │ spawnFailed            │ fail² (upgrade_failed)
//                     ▼                      ▼                              ▼                        ▼
//                   failed          failed (the session ends)          spawning(previous) ─spawned─► starting(previous) ─started─► failed
//                                                                           │ spawnFailed            │ fail²         (the old version runs again)
//                                                                           ▼                        ▼
//                                                                   failed (neither version runs: the session ends)
//
//   ² newExited, startFailed, deadline, parametersUnavailable. sessionChanged while spawning/starting
//     ends the session at once (the new run is discarded, nothing is published).
//
// Stop → start with a new TUN (the versions differ in bundle capability `tun-offload`, so the TUN's
// framing must change, which the kernel cannot do to a live interface; with or without `handover`):
// no TUN is kept while the old run stops; once it has exited its settings are taken away and its
// TUN closed, and a TUN with the framing of the version about to start is created (`replaceTun`,
// synchronous; the same name if it is free). A rollback makes one with the previous framing again.
//
//   idle ─begin─► stoppingOld ─oldExited─► replacingTun(target) ─tunReplaced─► spawning(target) ─► … as above
//                                               │ replaceTunFailed                 fail² │
//                                               ▼                                        ▼
//                                    replacingTun(previous) ─tunReplaced─► spawning(previous) ─► … as above
//                                               │ replaceTunFailed
//                                               ▼
//                                    failed (neither version runs: the session ends)

/// Why a session's live upgrade was abandoned: `reason` of the upgrade_failed event and of
/// io.culvert.Manager.UpgradeFailed.
public enum UpgradeFailureReason: String, Sendable, Hashable, Codable, CaseIterable {
    case spawnFailed = "spawn_failed"
    case newProviderExited = "new_provider_exited"
    case prepareFailed = "prepare_failed"
    case importFailed = "import_failed"
    case startFailed = "start_failed"
    case healthTimeout = "health_timeout"
    case sessionChanged = "session_changed"
    /// Refused before any session moved: an upgrade of the same extension is running.
    case upgradeInProgress = "upgrade_in_progress"
}

/// How a session is upgraded, and why: `reason` of the handover_started and handover_completed events.
public enum UpgradeReason: String, Sendable, Hashable, Codable, CaseIterable {
    /// Make-before-break (both versions declare nothing that changes the TUN, the new one `handover`).
    case handover
    /// Stop → start on the kept TUN: the new version does not declare `handover`.
    case restart
    /// Stop → start on a new TUN: one version declares `tun-offload` and the other does not, so the
    /// interface cannot be kept (its framing is fixed at creation), whatever `handover` says.
    case tunFramingChanged = "tun_framing_changed"
}

public struct UpgradeMachine: Sendable, Hashable {
    public enum Mode: Sendable, Hashable, CaseIterable {
        /// Make-before-break through PrepareHandover / ImportHandover.
        case handover
        /// Stop the old version, then start the new one on the kept TUN (or a new one: `replacesTun`).
        case restart
    }

    /// Which version a spawn or switch concerns: the one being upgraded to, or the one running before.
    public enum Version: Sendable, Hashable, CaseIterable {
        case target
        case previous
    }

    /// Which TUN descriptor a new run gets a duplicate of.
    public enum TunSource: Sendable, Hashable {
        /// The old run's (handover: both run on it at once).
        case oldRun
        /// The one culvertd kept (or made, `replacesTun`) while no provider runs (stop → start).
        case kept
    }

    public struct Failure: Sendable, Hashable, Error {
        public var reason: UpgradeFailureReason
        public var description: String
        /// The failure carries the log lines of the new run discarded by the `.discardNew` earlier in
        /// the same action list; otherwise its log is empty.
        public var withNewLog: Bool

        public init(reason: UpgradeFailureReason, description: String, withNewLog: Bool) {
            self.reason = reason
            self.description = description
            self.withNewLog = withNewLog
        }
    }

    /// How a call to a provider failed.
    public enum CallError: Sendable, Hashable {
        /// The channel closed first (text: why). For ImportHandover and StartTunnel the process's exit
        /// or the deadline reports what happened.
        case closed(String)
        /// The provider answered with an error (text: its description).
        case remote(String)

        public var text: String {
            switch self {
            case .closed(let reason): return "the channel closed (\(reason))"
            case .remote(let description): return description
            }
        }
    }

    public enum State: Sendable, Hashable {
        /// Created; feed `.begin`.
        case idle
        /// Stop → start: `.keepTun` asked for (synchronous).
        case keepingTun
        /// Stop → start with a new TUN: `.replaceTun` for the version asked for (synchronous).
        case replacingTun(Version)
        /// `.spawnNew` asked for (synchronous).
        case spawning(Version)
        /// Handover: PrepareHandover called on the old run; the new run lives, the deadline runs.
        case preparing
        /// Handover: ImportHandover called on the new run; the old one paused.
        case importing
        /// Stop → start: StopTunnel(superseded) sent; waiting for the old run's exit.
        /// `sessionChanged`: the session stopped meanwhile, so nothing is started afterwards.
        case stoppingOld(sessionChanged: Bool)
        /// Stop → start: StartTunnel called on the new run; `.previous` is the rollback.
        case starting(Version)
        /// Handover given up before PrepareHandover answered: a success still resumes the old run.
        case abandonedWhilePreparing
        /// The target version runs the session.
        case completed
        /// The upgrade failed: the previous version runs, or the session ended.
        case failed
    }

    public enum Input: Sendable, Hashable {
        /// Start the upgrade (once, in `idle`).
        case begin
        /// `.keepTun` succeeded.
        case tunKept
        /// `.keepTun` failed (text: the error).
        case keepTunFailed(String)
        /// `.replaceTun` succeeded: culvertd holds a new TUN with the version's framing.
        case tunReplaced
        /// `.replaceTun` failed (text: the error).
        case replaceTunFailed(String)
        /// `.spawnNew` succeeded: the new run exists, its exit and calls are routed to this machine.
        case spawned
        /// `.spawnNew` failed (text: the error).
        case spawnFailed(String)
        /// PrepareHandover succeeded (the driver holds its state and descriptors).
        case prepared
        case prepareFailed(CallError)
        /// ImportHandover succeeded: the new version is healthy.
        case imported
        case importFailed(CallError)
        /// The ImportHandover / StartTunnel parameters cannot be built (profile or extension gone).
        case parametersUnavailable
        /// StartTunnel succeeded.
        case started
        case startFailed(CallError)
        /// The new run called CancelTunnel (its `error` parameter).
        case newCancelled(String?)
        /// The new run exited (text: its exit, e.g. "status 1").
        case newExited(String)
        /// The old run exited (while `watchesOldExit`).
        case oldExited
        /// The start deadline (`.armDeadline`) passed.
        case deadline
        /// The old run's stop grace (`.armStopGrace`) passed.
        case stopGraceElapsed
        /// The session left connected/reasserting, or its run is no longer the old one.
        case sessionChanged
    }

    public enum Action: Sendable, Hashable {
        /// Publish handover_started with the reason (`UpgradeReason`).
        case publishStarted(UpgradeReason)
        /// Feed the session's SessionMachine.
        case sessionInput(SessionMachine.Input)
        /// Duplicate the old run's TUN descriptor and keep it; feed `.tunKept` or `.keepTunFailed`.
        case keepTun
        case closeKeptTun
        /// Stop → start with a new TUN, the old run having exited: take the old run's settings away and
        /// close everything it holds (its interface goes with it), close the kept TUN if any, create a
        /// TUN with the version's framing (same name if free) and keep it; feed `.tunReplaced` or
        /// `.replaceTunFailed`.
        case replaceTun(Version)
        /// Spawn the version's provider on a duplicate of the TUN; feed `.spawned` or `.spawnFailed`.
        case spawnNew(Version, tun: TunSource)
        case armDeadline(after: Duration)
        case cancelDeadline
        /// Call PrepareHandover on the old run; feed `.prepared` or `.prepareFailed`.
        case callPrepare
        /// Call ImportHandover on the new run with the prepared state and descriptors; feed
        /// `.imported` / `.importFailed`, or close the descriptors and feed `.parametersUnavailable`.
        case callImport
        /// Call StartTunnel on the new run; feed `.started` / `.startFailed`, or `.parametersUnavailable`.
        case callStart
        /// Refuse the old run's calls (NotReady, superseded) and call StopTunnel(superseded).
        case stopOld
        case armStopGrace(after: Duration)
        case cancelStopGrace
        case killOld
        /// Kill the new run if it lives, reap it, keep its last log lines, close what it holds.
        case discardNew
        /// Call ResumeAfterFailedHandover on the old run if it is still the session's and has not exited.
        case resumeOld
        /// Close the descriptors of a PrepareHandover reply that arrived after the attempt was given up.
        case closeHandoverDescriptors
        /// The new run becomes the session's run (settings, DNS and record move over; version reported).
        case switchRun(Version)
        /// Handover: refuse the old run's calls, StopTunnel(superseded), kill it after the stop timeout,
        /// close it when it exits.
        case retireOld
        /// Stop → start: close the exited old run.
        case closeOld
        /// Publish handover_completed with the reason (`UpgradeReason`).
        case publishCompleted(UpgradeReason)
        /// Publish upgrade_failed with the failure's reason, description and log.
        case publishFailed(Failure)
        /// Neither version runs: if the old run is still the session's run, feed the session
        /// `.providerExited(SessionFailure(reason: .providerExited, description:, log: the log of the
        /// `.discardNew` earlier in this list if withNewLog, else []))`, then tear it down if it still is.
        case endSession(description: String, withNewLog: Bool)
        /// Hand the old run's exit to the session's usual exit handling.
        case forwardOldExit
        /// The upgrade of this session is over: nil when the target version runs it.
        case finish(Failure?)
        /// The input changed nothing; why (log it; `isContractViolation` ones are driver bugs).
        case ignored(IgnoredInput)
    }

    /// Why an input changed nothing.
    public enum IgnoredInput: Sendable, Hashable {
        /// A reply the machine no longer waits for (the attempt ended or moved on).
        case lateReply
        /// ImportHandover / StartTunnel failed because the channel closed: the exit or deadline reports.
        case channelClosed
        /// A timer the machine no longer waits for.
        case staleTimer
        /// The new version cancelled while starting (stop → start): answered; its exit or the deadline decides.
        case cancelWhileStarting
        /// The session changed after this upgrade had ended or already knew it.
        case sessionChangeAfterEnd
        // Impossible while the driver keeps its contract:
        /// Anything but `.begin` in `idle`, or `.begin` twice.
        case notBegun
        /// A result or reply (tunKept, spawned, prepared, …) to something the machine did not ask for.
        case unrequestedResult
        /// Anything but the awaited result while a synchronous action (keepTun, replaceTun, spawnNew) is performed.
        case duringSynchronousAction
        /// An input of the other mode.
        case wrongMode
        /// An exit or call of a run this machine does not watch now.
        case notWatched

        public var isContractViolation: Bool {
            switch self {
            case .lateReply, .channelClosed, .staleTimer, .cancelWhileStarting, .sessionChangeAfterEnd: return false
            case .notBegun, .unrequestedResult, .duringSynchronousAction, .wrongMode, .notWatched: return true
            }
        }
    }

    public let mode: Mode
    /// Stop → start on a new TUN instead of the kept one (the versions' TUN framings differ).
    public let replacesTun: Bool
    public let timing: SessionTiming
    public internal(set) var state: State = .idle
    /// Stop → start: the target's failure, reported as the result after a rollback.
    public internal(set) var targetFailure: Failure?

    /// An upgrade that keeps the session's TUN.
    public init(mode: Mode, timing: SessionTiming) {
        self.mode = mode
        self.replacesTun = false
        self.timing = timing
    }

    /// The upgrade the two versions allow: handover if the new one declares it and the TUN can be
    /// kept; otherwise stop → start, on a new TUN if `tunFramingChanges`.
    public init(handover: Bool, tunFramingChanges: Bool, timing: SessionTiming) {
        self.mode = handover && !tunFramingChanges ? .handover : .restart
        self.replacesTun = tunFramingChanges
        self.timing = timing
    }

    /// Why the upgrade takes its path: handover_started's and handover_completed's reason.
    public var reason: UpgradeReason {
        switch mode {
        case .handover: return .handover
        case .restart: return replacesTun ? .tunFramingChanged : .restart
        }
    }

    /// Whether the old run's exit goes to this machine (`.oldExited`) instead of the session.
    public var watchesOldExit: Bool {
        switch state {
        case .preparing, .importing, .stoppingOld: return true
        default: return false
        }
    }

    /// Whether the new run exists apart from the session: its exit goes to this machine
    /// (`.newExited`) and its SetTunnelNetworkSettings / Protect act on the session's TUN, its
    /// CancelTunnel is `.newCancelled`, other calls are answered empty.
    public var watchesNewRun: Bool {
        switch state {
        case .preparing, .importing, .starting: return true
        default: return false
        }
    }

    public var isFinished: Bool { state == .completed || state == .failed }
}
