// UpgradeMachine+Transitions: every state × input pair of a session's live upgrade.

extension UpgradeMachine {
    /// Feeds one input; returns the actions to perform, in order. An input that changes nothing
    /// yields `[.ignored(why)]`; only `.sessionChanged` while the old run stops is recorded silently
    /// (it decides what happens at that run's exit).
    public mutating func handle(_ input: Input) -> [Action] {
        switch (state, input) {
        case (.idle, .begin): return begin()
        case (.idle, _), (_, .begin): return [.ignored(.notBegun)]
        case (.keepingTun, .tunKept), (.keepingTun, .keepTunFailed), (.replacingTun, .tunReplaced), (.replacingTun, .replaceTunFailed),
            (.spawning, .spawned), (.spawning, .spawnFailed):
            break
        case (.keepingTun, _), (.replacingTun, _), (.spawning, _):
            // keepTun, replaceTun and spawnNew are synchronous: the driver feeds their result before anything else.
            return [.ignored(.duringSynchronousAction)]
        default:
            break
        }
        switch mode {
        case .handover: return handover(input)
        case .restart: return restart(input)
        }
    }

    private mutating func begin() -> [Action] {
        switch mode {
        case .handover:
            state = .spawning(.target)
            return [.publishStarted(.handover), .spawnNew(.target, tun: .oldRun)]
        case .restart where replacesTun:
            // No TUN is kept: the old run's own descriptor holds the interface until it has exited.
            state = .stoppingOld(sessionChanged: false)
            return [
                .publishStarted(.tunFramingChanged), .sessionInput(.upgradeRestarting), .stopOld, .armStopGrace(after: timing.stopTimeout),
            ]
        case .restart:
            state = .keepingTun
            return [.publishStarted(.restart), .sessionInput(.upgradeRestarting), .keepTun]
        }
    }

    // MARK: handover

    private mutating func handover(_ input: Input) -> [Action] {
        switch (state, input) {
        case (.spawning, .spawned):
            state = .preparing
            return [.armDeadline(after: timing.startTimeout), .callPrepare]
        case (.spawning, .spawnFailed(let text)):
            state = .failed
            let failure = Failure(reason: .spawnFailed, description: text, withNewLog: false)
            return [.publishFailed(failure), .finish(failure)]

        case (.preparing, .prepared):
            state = .importing
            return [.callImport]
        case (.preparing, .prepareFailed(let error)):
            return abandon(.prepareFailed, "PrepareHandover failed in the running version: \(error.text)")
        case (.importing, .imported):
            state = .completed
            return [.cancelDeadline, .switchRun(.target), .retireOld, .publishCompleted(.handover), .finish(nil)]
        case (.importing, .importFailed(.closed)):
            return [.ignored(.channelClosed)]
        case (.importing, .importFailed(let error)):
            return abandon(.importFailed, "ImportHandover failed in the new version: \(error.text)")
        case (.importing, .parametersUnavailable):
            return abandon(.sessionChanged, "the profile or its extension is no longer usable")
        case (.preparing, .newExited(let exit)), (.importing, .newExited(let exit)):
            return abandon(.newProviderExited, "the new version exited during the handover (\(exit))")
        case (.preparing, .newCancelled(let text)), (.importing, .newCancelled(let text)):
            return abandon(.importFailed, text ?? "the new version cancelled")
        case (.preparing, .deadline), (.importing, .deadline):
            return abandon(.healthTimeout, "the new version did not confirm within \(timing.startTimeout)")
        case (.preparing, .sessionChanged), (.importing, .sessionChanged):
            return abandon(.sessionChanged, "the session changed state during the handover")
        case (.preparing, .oldExited), (.importing, .oldExited):
            // The attempt ends first, so the new run's copy of the TUN is gone before the session is torn down.
            return abandon(.sessionChanged, "the running version ended during the handover", oldExited: true) + [.forwardOldExit]

        case (.abandonedWhilePreparing, .prepared):
            // It paused for a handover that no longer happens.
            state = .failed
            return [.closeHandoverDescriptors, .resumeOld]
        case (.abandonedWhilePreparing, .prepareFailed):
            state = .failed
            return [.ignored(.lateReply)]

        case (.completed, .imported), (.completed, .importFailed), (.failed, .imported), (.failed, .importFailed):
            // failed: given up while importing; completed: the reply that completed it came first (impossible twice).
            return [.ignored(state == .failed ? .lateReply : .unrequestedResult)]
        case (_, .prepared), (_, .prepareFailed), (_, .imported), (_, .importFailed), (_, .parametersUnavailable),
            (_, .spawned), (_, .spawnFailed):
            return [.ignored(.unrequestedResult)]
        case (_, .tunKept), (_, .keepTunFailed), (_, .tunReplaced), (_, .replaceTunFailed), (_, .started), (_, .startFailed),
            (_, .stopGraceElapsed):
            return [.ignored(.wrongMode)]
        case (_, .deadline):
            return [.ignored(.staleTimer)]
        case (_, .sessionChanged):
            return [.ignored(.sessionChangeAfterEnd)]
        case (_, .newExited), (_, .newCancelled), (_, .oldExited):
            return [.ignored(.notWatched)]
        case (_, .begin):
            return [.ignored(.notBegun)]
        }
    }

    /// Gives up a handover: the new run is killed, the old one carries on (resumed if it paused).
    private mutating func abandon(_ reason: UpgradeFailureReason, _ description: String, oldExited: Bool = false) -> [Action] {
        let paused = state == .importing
        state = state == .preparing ? .abandonedWhilePreparing : .failed
        let failure = Failure(reason: reason, description: description, withNewLog: true)
        let resume: [Action] = paused && !oldExited ? [.resumeOld] : []
        return [.cancelDeadline, .discardNew] + resume + [.publishFailed(failure), .finish(failure)]
    }

    // MARK: stop → start

    private mutating func restart(_ input: Input) -> [Action] {
        switch (state, input) {
        case (.keepingTun, .tunKept):
            state = .stoppingOld(sessionChanged: false)
            return [.stopOld, .armStopGrace(after: timing.stopTimeout)]
        case (.keepingTun, .keepTunFailed(let text)):
            state = .failed
            let failure = Failure(reason: .spawnFailed, description: "duplicating the TUN descriptor: \(text)", withNewLog: false)
            return [.sessionInput(.upgradeRestarted), .publishFailed(failure), .finish(failure)]

        case (.stoppingOld, .stopGraceElapsed):
            return [.killOld]
        case (.stoppingOld(sessionChanged: false), .sessionChanged):
            // The session's own stop runs on; when the old run has exited nothing is started.
            state = .stoppingOld(sessionChanged: true)
            return []
        case (.stoppingOld(sessionChanged: true), .oldExited):
            return [.cancelStopGrace] + endForSessionChange()
        case (.stoppingOld(sessionChanged: false), .oldExited) where replacesTun:
            state = .replacingTun(.target)
            return [.cancelStopGrace, .replaceTun(.target)]
        case (.stoppingOld(sessionChanged: false), .oldExited):
            state = .spawning(.target)
            return [.cancelStopGrace, .spawnNew(.target, tun: .kept)]

        case (.replacingTun(let version), .tunReplaced):
            state = .spawning(version)
            return [.spawnNew(version, tun: .kept)]
        case (.replacingTun(let version), .replaceTunFailed(let text)):
            let failure = Failure(reason: .spawnFailed, description: "creating a TUN for the version: \(text)", withNewLog: false)
            return failStart(version, failure)

        case (.spawning(let version), .spawned):
            state = .starting(version)
            return [.armDeadline(after: timing.startTimeout), .callStart]
        case (.spawning(let version), .spawnFailed(let text)):
            return failStart(version, Failure(reason: .spawnFailed, description: text, withNewLog: false))

        case (.starting(let version), .started):
            state = version == .target ? .completed : .failed
            let published: [Action] = version == .target ? [.publishCompleted(reason)] : []
            return [.cancelDeadline, .closeKeptTun, .switchRun(version), .closeOld, .sessionInput(.upgradeRestarted)] + published
                + [.finish(version == .target ? nil : targetFailure)]
        case (.starting, .startFailed(.closed)):
            return [.ignored(.channelClosed)]
        case (.starting(let version), .startFailed(let error)):
            let failure = Failure(reason: .startFailed, description: error.text, withNewLog: true)
            return [.cancelDeadline, .discardNew] + failStart(version, failure)
        case (.starting(let version), .parametersUnavailable):
            let failure = Failure(reason: .sessionChanged, description: "the profile is gone", withNewLog: true)
            return [.cancelDeadline, .discardNew] + failStart(version, failure)
        case (.starting(let version), .deadline):
            let failure = Failure(reason: .healthTimeout, description: "StartTunnel did not finish in time", withNewLog: true)
            return [.discardNew] + failStart(version, failure)
        case (.starting(let version), .newExited(let exit)):
            let failure = Failure(
                reason: .newProviderExited, description: "the new version exited while starting (\(exit))", withNewLog: true)
            return [.cancelDeadline, .discardNew] + failStart(version, failure)
        case (.starting, .newCancelled):
            return [.ignored(.cancelWhileStarting)]
        case (.starting, .sessionChanged):
            return [.cancelDeadline, .discardNew] + endForSessionChange()

        case (.completed, .started), (.completed, .startFailed), (.failed, .started), (.failed, .startFailed):
            // failed: the start was given up (deadline, exit) before its reply; completed: impossible twice.
            return [.ignored(state == .failed ? .lateReply : .unrequestedResult)]
        case (_, .tunKept), (_, .keepTunFailed), (_, .tunReplaced), (_, .replaceTunFailed), (_, .spawned), (_, .spawnFailed),
            (_, .parametersUnavailable), (_, .started), (_, .startFailed):
            return [.ignored(.unrequestedResult)]
        case (_, .prepared), (_, .prepareFailed), (_, .imported), (_, .importFailed):
            return [.ignored(.wrongMode)]
        case (_, .deadline), (_, .stopGraceElapsed):
            return [.ignored(.staleTimer)]
        case (_, .sessionChanged):
            return [.ignored(.sessionChangeAfterEnd)]
        case (_, .newExited), (_, .newCancelled), (_, .oldExited):
            return [.ignored(.notWatched)]
        case (_, .begin):
            return [.ignored(.notBegun)]
        }
    }

    /// A start failed. The target's failure is published and the previous version is started the
    /// same way (on a TUN with its own framing again, `replacesTun`); the previous version's
    /// failure ends the session (neither version runs).
    private mutating func failStart(_ version: Version, _ failure: Failure) -> [Action] {
        switch version {
        case .target where replacesTun:
            targetFailure = failure
            state = .replacingTun(.previous)
            return [.publishFailed(failure), .replaceTun(.previous)]
        case .target:
            targetFailure = failure
            state = .spawning(.previous)
            return [.publishFailed(failure), .spawnNew(.previous, tun: .kept)]
        case .previous:
            state = .failed
            return [.closeKeptTun, .endSession(description: failure.description, withNewLog: failure.withNewLog), .finish(targetFailure)]
        }
    }

    /// The session stopped while no provider or only a new one ran: nothing is started any more.
    /// After a rollback began the result stays the target's failure.
    private mutating func endForSessionChange() -> [Action] {
        let result =
            targetFailure ?? Failure(reason: .sessionChanged, description: "the session was stopped during the upgrade", withNewLog: false)
        state = .failed
        return [.closeKeptTun, .endSession(description: "the provider stopped for an upgrade", withNewLog: false), .finish(result)]
    }
}
