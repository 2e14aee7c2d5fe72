// UpgradeMachine: whole upgrades as the driver sees them — events in order, rollback, late replies.

import CulvertCore
import XCTest

final class UpgradeMachinePathTests: XCTestCase {
    typealias Machine = UpgradeMachine
    typealias Failure = UpgradeMachine.Failure

    let timing = SessionTiming(startTimeout: .seconds(3), stopTimeout: .seconds(2))

    func run(_ machine: inout Machine, _ inputs: [Machine.Input]) -> [Machine.Action] {
        inputs.flatMap { machine.handle($0) }
    }

    func testHandoverMakesBeforeBreaking() {
        var machine = Machine(mode: .handover, timing: timing)
        XCTAssertEqual(machine.handle(.begin), [.publishStarted(.handover), .spawnNew(.target, tun: .oldRun)])
        XCTAssertFalse(machine.watchesOldExit, "spawnNew is synchronous: nothing is routed yet")
        XCTAssertEqual(machine.handle(.spawned), [.armDeadline(after: .seconds(3)), .callPrepare])
        XCTAssertTrue(machine.watchesOldExit)
        XCTAssertTrue(machine.watchesNewRun)
        XCTAssertEqual(machine.handle(.prepared), [.callImport])
        XCTAssertEqual(
            machine.handle(.imported), [.cancelDeadline, .switchRun(.target), .retireOld, .publishCompleted(.handover), .finish(nil)])
        XCTAssertTrue(machine.isFinished)
        XCTAssertFalse(machine.watchesOldExit, "the retired run's exit is the driver's")
        XCTAssertFalse(machine.watchesNewRun, "the new run is the session's now")
    }

    func testHandoverAbandonedBeforePrepareRepliedResumesWhenTheReplyArrives() {
        var machine = Machine(mode: .handover, timing: timing)
        _ = run(&machine, [.begin, .spawned])
        let failure = Failure(
            reason: .newProviderExited, description: "the new version exited during the handover (status 1)", withNewLog: true)
        XCTAssertEqual(
            machine.handle(.newExited("status 1")), [.cancelDeadline, .discardNew, .publishFailed(failure), .finish(failure)],
            "not paused yet: no resume")
        XCTAssertEqual(machine.state, .abandonedWhilePreparing)
        XCTAssertFalse(machine.watchesOldExit, "the session handles the old run's exit again")
        XCTAssertEqual(machine.handle(.prepared), [.closeHandoverDescriptors, .resumeOld])
        XCTAssertEqual(machine.state, .failed)
    }

    func testHandoverFailureAfterPrepareResumesTheOldVersion() {
        var machine = Machine(mode: .handover, timing: timing)
        _ = run(&machine, [.begin, .spawned, .prepared])
        let failure = Failure(reason: .importFailed, description: "ImportHandover failed in the new version: bad state", withNewLog: true)
        XCTAssertEqual(
            machine.handle(.importFailed(.remote("bad state"))),
            [.cancelDeadline, .discardNew, .resumeOld, .publishFailed(failure), .finish(failure)])
        XCTAssertEqual(machine.handle(.imported), [.ignored(.lateReply)])
    }

    func testOldExitDuringHandoverEndsTheAttemptBeforeTheSessionSeesIt() {
        var machine = Machine(mode: .handover, timing: timing)
        _ = run(&machine, [.begin, .spawned, .prepared])
        let actions = machine.handle(.oldExited)
        XCTAssertEqual(actions.first, .cancelDeadline)
        XCTAssertFalse(actions.contains(.resumeOld), "nothing left to resume")
        XCTAssertEqual(
            actions.suffix(2).first,
            .finish(Failure(reason: .sessionChanged, description: "the running version ended during the handover", withNewLog: true)))
        XCTAssertEqual(actions.last, .forwardOldExit)
    }

    func testRestartStopsThenStarts() {
        var machine = Machine(mode: .restart, timing: timing)
        XCTAssertEqual(machine.handle(.begin), [.publishStarted(.restart), .sessionInput(.upgradeRestarting), .keepTun])
        XCTAssertEqual(machine.handle(.tunKept), [.stopOld, .armStopGrace(after: .seconds(2))])
        XCTAssertTrue(machine.watchesOldExit)
        XCTAssertFalse(machine.watchesNewRun)
        XCTAssertEqual(machine.handle(.stopGraceElapsed), [.killOld])
        XCTAssertEqual(machine.handle(.oldExited), [.cancelStopGrace, .spawnNew(.target, tun: .kept)])
        XCTAssertEqual(machine.handle(.spawned), [.armDeadline(after: .seconds(3)), .callStart])
        XCTAssertTrue(machine.watchesNewRun)
        XCTAssertFalse(machine.watchesOldExit, "it has exited")
        XCTAssertEqual(
            machine.handle(.started),
            [
                .cancelDeadline, .closeKeptTun, .switchRun(.target), .closeOld, .sessionInput(.upgradeRestarted),
                .publishCompleted(.restart), .finish(nil),
            ])
        XCTAssertEqual(machine.state, .completed)
    }

    func testRestartRollsBackToThePreviousVersion() {
        var machine = Machine(mode: .restart, timing: timing)
        _ = run(&machine, [.begin, .tunKept, .oldExited, .spawned])
        let failure = Failure(reason: .startFailed, description: "no route", withNewLog: true)
        XCTAssertEqual(
            machine.handle(.startFailed(.remote("no route"))),
            [.cancelDeadline, .discardNew, .publishFailed(failure), .spawnNew(.previous, tun: .kept)])
        XCTAssertEqual(machine.targetFailure, failure)
        _ = machine.handle(.spawned)
        let back = machine.handle(.started)
        XCTAssertEqual(back.last, .finish(failure), "the upgrade failed although the previous version runs again")
        XCTAssertTrue(back.contains(.switchRun(.previous)))
        XCTAssertFalse(back.contains(.publishCompleted(.restart)), "a rollback publishes nothing more")
        XCTAssertEqual(machine.state, .failed)
    }

    func testRestartWhoseRollbackFailsEndsTheSession() {
        var machine = Machine(mode: .restart, timing: timing)
        _ = run(&machine, [.begin, .tunKept, .oldExited])
        let target = Failure(reason: .spawnFailed, description: "no manifest", withNewLog: false)
        XCTAssertEqual(machine.handle(.spawnFailed("no manifest")), [.publishFailed(target), .spawnNew(.previous, tun: .kept)])
        _ = machine.handle(.spawned)
        XCTAssertEqual(
            machine.handle(.newExited("status 2")),
            [
                .cancelDeadline, .discardNew, .closeKeptTun,
                .endSession(description: "the new version exited while starting (status 2)", withNewLog: true), .finish(target),
            ], "one upgrade_failed only; the session fails like a provider exit")
    }

    /// Offloading and plain versions: even with `handover` the old version stops first, its TUN goes
    /// before the new one's is made, and a rollback makes one with the previous framing again.
    func testFramingChangeReplacesTheTunAroundTheRestart() {
        var machine = Machine(handover: true, tunFramingChanges: true, timing: timing)
        XCTAssertEqual(machine.mode, .restart)
        XCTAssertEqual(
            machine.handle(.begin),
            [.publishStarted(.tunFramingChanged), .sessionInput(.upgradeRestarting), .stopOld, .armStopGrace(after: .seconds(2))])
        XCTAssertEqual(machine.handle(.oldExited), [.cancelStopGrace, .replaceTun(.target)])
        XCTAssertFalse(machine.watchesNewRun)
        XCTAssertEqual(machine.handle(.spawned), [.ignored(.duringSynchronousAction)], "the TUN comes first")
        XCTAssertEqual(machine.handle(.tunReplaced), [.spawnNew(.target, tun: .kept)])
        _ = machine.handle(.spawned)
        let failure = Failure(reason: .healthTimeout, description: "StartTunnel did not finish in time", withNewLog: true)
        XCTAssertEqual(machine.handle(.deadline), [.discardNew, .publishFailed(failure), .replaceTun(.previous)])
        XCTAssertEqual(machine.handle(.tunReplaced), [.spawnNew(.previous, tun: .kept)])
        _ = machine.handle(.spawned)
        let back = machine.handle(.started)
        XCTAssertTrue(back.contains(.switchRun(.previous)))
        XCTAssertEqual(back.last, .finish(failure))
        XCTAssertFalse(back.contains(.publishCompleted(.tunFramingChanged)))
    }

    func testFramingChangeCompletesWithItsReason() {
        var machine = Machine(handover: false, tunFramingChanges: true, timing: timing)
        _ = run(&machine, [.begin, .oldExited, .tunReplaced, .spawned])
        XCTAssertEqual(
            machine.handle(.started),
            [
                .cancelDeadline, .closeKeptTun, .switchRun(.target), .closeOld, .sessionInput(.upgradeRestarted),
                .publishCompleted(.tunFramingChanged), .finish(nil),
            ])
    }

    func testNoTunForEitherVersionEndsTheSession() {
        var machine = Machine(handover: true, tunFramingChanges: true, timing: timing)
        _ = run(&machine, [.begin, .oldExited])
        let target = Failure(reason: .spawnFailed, description: "creating a TUN for the version: EBUSY", withNewLog: false)
        XCTAssertEqual(machine.handle(.replaceTunFailed("EBUSY")), [.publishFailed(target), .replaceTun(.previous)])
        XCTAssertEqual(
            machine.handle(.replaceTunFailed("EBUSY")),
            [.closeKeptTun, .endSession(description: "creating a TUN for the version: EBUSY", withNewLog: false), .finish(target)])
        XCTAssertEqual(machine.state, .failed)
    }

    func testSessionStoppedDuringRestartPublishesNoFailure() {
        var machine = Machine(mode: .restart, timing: timing)
        _ = run(&machine, [.begin, .tunKept])
        XCTAssertEqual(machine.handle(.sessionChanged), [])
        XCTAssertEqual(machine.handle(.sessionChanged), [.ignored(.sessionChangeAfterEnd)])
        let actions = machine.handle(.oldExited)
        XCTAssertFalse(actions.contains { if case .publishFailed = $0 { return true } else { return false } })
        XCTAssertEqual(
            actions.last,
            .finish(Failure(reason: .sessionChanged, description: "the session was stopped during the upgrade", withNewLog: false)))
        XCTAssertTrue(actions.contains(.endSession(description: "the provider stopped for an upgrade", withNewLog: false)))
    }

    func testUpgradeReasonsKeepTheirWireNames() {
        XCTAssertEqual(UpgradeReason.allCases.map(\.rawValue), ["handover", "restart", "tun_framing_changed"])
    }

    func testFailureReasonsKeepTheirWireNames() {
        XCTAssertEqual(
            UpgradeFailureReason.allCases.map(\.rawValue),
            [
                "spawn_failed", "new_provider_exited", "prepare_failed", "import_failed", "start_failed", "health_timeout",
                "session_changed",
                "upgrade_in_progress",
            ])
    }

    func testContractViolationsAreTellable() {
        let possible: [Machine.IgnoredInput] = [.lateReply, .channelClosed, .staleTimer, .cancelWhileStarting, .sessionChangeAfterEnd]
        let violations: [Machine.IgnoredInput] = [.notBegun, .unrequestedResult, .duringSynchronousAction, .wrongMode, .notWatched]
        XCTAssertTrue(possible.allSatisfy { !$0.isContractViolation })
        XCTAssertTrue(violations.allSatisfy(\.isContractViolation))
    }
}
