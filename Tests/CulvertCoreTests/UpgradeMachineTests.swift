// UpgradeMachine: every state × input pair of both modes (stop → start also on a new TUN, when the
// versions' TUN framings differ), and the paths through them (rollback included).

import CulvertCore
import XCTest

final class UpgradeMachineTests: XCTestCase {
    typealias Machine = UpgradeMachine
    typealias Failure = UpgradeMachine.Failure

    let timing = SessionTiming(startTimeout: .seconds(3), stopTimeout: .seconds(2))

    /// Every input, with the payload variants that take different paths.
    let inputs: [(String, Machine.Input)] = [
        ("begin", .begin), ("tunKept", .tunKept), ("keepTunFailed", .keepTunFailed("x")), ("tunReplaced", .tunReplaced),
        ("replaceTunFailed", .replaceTunFailed("x")), ("spawned", .spawned),
        ("spawnFailed", .spawnFailed("x")), ("prepared", .prepared), ("prepareFailed.remote", .prepareFailed(.remote("x"))),
        ("prepareFailed.closed", .prepareFailed(.closed("x"))), ("imported", .imported),
        ("importFailed.remote", .importFailed(.remote("x"))),
        ("importFailed.closed", .importFailed(.closed("x"))), ("parametersUnavailable", .parametersUnavailable), ("started", .started),
        ("startFailed.remote", .startFailed(.remote("x"))), ("startFailed.closed", .startFailed(.closed("x"))),
        ("newCancelled", .newCancelled("x")), ("newCancelled.nil", .newCancelled(nil)), ("newExited", .newExited("status 1")),
        ("oldExited", .oldExited), ("deadline", .deadline), ("stopGraceElapsed", .stopGraceElapsed), ("sessionChanged", .sessionChanged),
    ]

    /// Input sequences reaching every state of each mode (some states by more than one path).
    let handoverPaths: [[Machine.Input]] = [
        [], [.begin], [.begin, .spawned], [.begin, .spawned, .prepared], [.begin, .spawned, .deadline],
        [.begin, .spawned, .prepared, .imported], [.begin, .spawnFailed("x")], [.begin, .spawned, .prepared, .deadline],
        [.begin, .spawned, .deadline, .prepared],
    ]
    let restartPaths: [[Machine.Input]] = [
        [], [.begin], [.begin, .tunKept], [.begin, .tunKept, .sessionChanged], [.begin, .tunKept, .oldExited],
        [.begin, .tunKept, .oldExited, .spawned], [.begin, .tunKept, .oldExited, .spawned, .deadline],
        [.begin, .tunKept, .oldExited, .spawned, .deadline, .spawned], [.begin, .tunKept, .oldExited, .spawned, .started],
        [.begin, .keepTunFailed("x")], [.begin, .tunKept, .oldExited, .spawned, .deadline, .spawned, .started],
        [.begin, .tunKept, .oldExited, .spawned, .deadline, .spawned, .deadline],
    ]
    /// Stop → start on a new TUN (framings differ): reaches every state of that path, rollback included.
    let newTunPaths: [[Machine.Input]] = [
        [], [.begin], [.begin, .sessionChanged], [.begin, .sessionChanged, .oldExited], [.begin, .oldExited],
        [.begin, .oldExited, .tunReplaced], [.begin, .oldExited, .tunReplaced, .spawned],
        [.begin, .oldExited, .tunReplaced, .spawned, .started], [.begin, .oldExited, .tunReplaced, .spawned, .deadline],
        [.begin, .oldExited, .tunReplaced, .spawned, .deadline, .tunReplaced],
        [.begin, .oldExited, .tunReplaced, .spawned, .deadline, .tunReplaced, .spawned],
        [.begin, .oldExited, .tunReplaced, .spawned, .deadline, .tunReplaced, .spawned, .started],
        [.begin, .oldExited, .replaceTunFailed("x")], [.begin, .oldExited, .replaceTunFailed("x"), .replaceTunFailed("x")],
    ]

    enum Expect: Equatable {
        case go(Machine.State, [Machine.Action])
        case ignored(Machine.IgnoredInput)
    }

    func machine(_ mode: Machine.Mode, _ path: [Machine.Input], newTun: Bool = false) -> Machine {
        var machine =
            newTun ? Machine(handover: mode == .handover, tunFramingChanges: true, timing: timing) : Machine(mode: mode, timing: timing)
        for input in path {
            let actions = machine.handle(input)
            XCTAssertFalse(actions.contains { if case .ignored = $0 { return true } else { return false } }, "path \(path) at \(input)")
        }
        return machine
    }

    // MARK: every pair

    func testEveryHandoverPair() {
        var states: Set<Machine.State> = []
        for path in handoverPaths {
            let start = machine(.handover, path)
            states.insert(start.state)
            for (name, input) in inputs {
                var machine = start
                let actions = machine.handle(input)
                switch handoverExpectation(start, name) {
                case .go(let state, let expected):
                    XCTAssertEqual(actions, expected, "\(start.state) × \(name)")
                    XCTAssertEqual(machine.state, state, "\(start.state) × \(name)")
                case .ignored(let why):
                    XCTAssertEqual(actions, [.ignored(why)], "\(start.state) × \(name)")
                    XCTAssertEqual(machine, start, "an ignored input changes nothing: \(start.state) × \(name)")
                }
            }
        }
        XCTAssertEqual(states, [.idle, .spawning(.target), .preparing, .importing, .abandonedWhilePreparing, .completed, .failed])
    }

    func testEveryRestartPair() {
        XCTAssertEqual(
            restartPairStates(restartPaths, newTun: false),
            [
                .idle, .keepingTun, .stoppingOld(sessionChanged: false), .stoppingOld(sessionChanged: true), .spawning(.target),
                .starting(.target), .spawning(.previous), .starting(.previous), .completed, .failed,
            ])
    }

    /// The versions differ in `tun-offload`: stop → start on a new TUN, whether or not the new one can hand over.
    func testEveryNewTunPair() {
        XCTAssertEqual(
            restartPairStates(newTunPaths, newTun: true),
            [
                .idle, .stoppingOld(sessionChanged: false), .stoppingOld(sessionChanged: true), .replacingTun(.target), .spawning(.target),
                .starting(.target), .replacingTun(.previous), .spawning(.previous), .starting(.previous), .completed, .failed,
            ])
    }

    func testTheVersionsDecideThePath() {
        for handover in [false, true] {
            for changes in [false, true] {
                let machine = Machine(handover: handover, tunFramingChanges: changes, timing: timing)
                XCTAssertEqual(machine.mode, handover && !changes ? .handover : .restart, "\(handover) \(changes)")
                XCTAssertEqual(machine.replacesTun, changes)
                XCTAssertEqual(machine.reason, changes ? .tunFramingChanged : handover ? .handover : .restart)
            }
        }
        XCTAssertEqual(UpgradeReason.tunFramingChanged.rawValue, "tun_framing_changed")
    }

    /// Checks every input in every state `paths` reach (mode restart); returns those states.
    func restartPairStates(_ paths: [[Machine.Input]], newTun: Bool) -> Set<Machine.State> {
        var states: Set<Machine.State> = []
        for path in paths {
            let start = machine(newTun ? .handover : .restart, path, newTun: newTun)
            states.insert(start.state)
            for (name, input) in inputs {
                var machine = start
                let actions = machine.handle(input)
                switch restartExpectation(start, name) {
                case .go(let state, let expected):
                    XCTAssertEqual(actions, expected, "\(start.state) × \(name)")
                    XCTAssertEqual(machine.state, state, "\(start.state) × \(name)")
                case .ignored(let why):
                    XCTAssertEqual(actions, [.ignored(why)], "\(start.state) × \(name)")
                    XCTAssertEqual(machine, start, "an ignored input changes nothing: \(start.state) × \(name)")
                }
            }
        }
        return states
    }

    // MARK: expectations, written out per pair

    func abandon(_ reason: UpgradeFailureReason, _ text: String, to state: Machine.State, resume: Bool) -> Expect {
        let failure = Failure(reason: reason, description: text, withNewLog: true)
        return .go(state, [.cancelDeadline, .discardNew] + (resume ? [.resumeOld] : []) + [.publishFailed(failure), .finish(failure)])
    }

    func handoverExpectation(_ machine: Machine, _ input: String) -> Expect {
        let restartOnly: Set = [
            "tunKept", "keepTunFailed", "tunReplaced", "replaceTunFailed", "started", "startFailed.remote", "startFailed.closed",
            "stopGraceElapsed",
        ]
        switch (machine.state, input) {
        case (.idle, "begin"): return .go(.spawning(.target), [.publishStarted(.handover), .spawnNew(.target, tun: .oldRun)])
        case (.idle, _), (_, "begin"): return .ignored(.notBegun)
        case (.spawning, "spawned"): return .go(.preparing, [.armDeadline(after: .seconds(3)), .callPrepare])
        case (.spawning, "spawnFailed"):
            let failure = Failure(reason: .spawnFailed, description: "x", withNewLog: false)
            return .go(.failed, [.publishFailed(failure), .finish(failure)])
        case (.spawning, _): return .ignored(.duringSynchronousAction)
        case (.preparing, "prepared"): return .go(.importing, [.callImport])
        case (.importing, "imported"):
            return .go(.completed, [.cancelDeadline, .switchRun(.target), .retireOld, .publishCompleted(.handover), .finish(nil)])
        case (.importing, "importFailed.closed"): return .ignored(.channelClosed)
        case (.abandonedWhilePreparing, "prepared"): return .go(.failed, [.closeHandoverDescriptors, .resumeOld])
        case (.abandonedWhilePreparing, "prepareFailed.remote"), (.abandonedWhilePreparing, "prepareFailed.closed"):
            return .go(.failed, [.ignored(.lateReply)])
        case (.preparing, _), (.importing, _):
            let next: Machine.State = machine.state == .preparing ? .abandonedWhilePreparing : .failed
            let paused = machine.state == .importing
            switch input {
            case "prepareFailed.remote" where !paused:
                return abandon(.prepareFailed, "PrepareHandover failed in the running version: x", to: next, resume: false)
            case "prepareFailed.closed" where !paused:
                return abandon(
                    .prepareFailed, "PrepareHandover failed in the running version: the channel closed (x)", to: next, resume: false)
            case "importFailed.remote" where paused:
                return abandon(.importFailed, "ImportHandover failed in the new version: x", to: next, resume: true)
            case "parametersUnavailable" where paused:
                return abandon(.sessionChanged, "the profile or its extension is no longer usable", to: next, resume: true)
            case "newExited":
                return abandon(.newProviderExited, "the new version exited during the handover (status 1)", to: next, resume: paused)
            case "newCancelled": return abandon(.importFailed, "x", to: next, resume: paused)
            case "newCancelled.nil": return abandon(.importFailed, "the new version cancelled", to: next, resume: paused)
            case "deadline":
                return abandon(.healthTimeout, "the new version did not confirm within 3.0 seconds", to: next, resume: paused)
            case "sessionChanged":
                return abandon(.sessionChanged, "the session changed state during the handover", to: next, resume: paused)
            case "oldExited":
                guard
                    case .go(let state, let actions) = abandon(
                        .sessionChanged, "the running version ended during the handover", to: next, resume: false)
                else { return .ignored(.notBegun) }
                return .go(state, actions + [.forwardOldExit])
            default: break
            }
        default: break
        }
        if restartOnly.contains(input) { return .ignored(.wrongMode) }
        switch input {
        case "imported", "importFailed.remote", "importFailed.closed":
            return .ignored(machine.state == .failed ? .lateReply : .unrequestedResult)
        case "prepared", "prepareFailed.remote", "prepareFailed.closed", "parametersUnavailable", "spawned", "spawnFailed":
            return .ignored(.unrequestedResult)
        case "deadline": return .ignored(.staleTimer)
        case "sessionChanged": return .ignored(.sessionChangeAfterEnd)
        default: return .ignored(.notWatched)  // newExited, newCancelled, oldExited
        }
    }

    /// A failed start of `version`: roll back to the previous version (on a TUN of its framing again
    /// if the TUN is replaced), or end the session.
    func failStart(_ machine: Machine, _ version: Machine.Version, _ before: [Machine.Action], _ failure: Failure) -> Expect {
        switch version {
        case .target where machine.replacesTun:
            return .go(.replacingTun(.previous), before + [.publishFailed(failure), .replaceTun(.previous)])
        case .target: return .go(.spawning(.previous), before + [.publishFailed(failure), .spawnNew(.previous, tun: .kept)])
        case .previous:
            return .go(
                .failed,
                before + [
                    .closeKeptTun, .endSession(description: failure.description, withNewLog: failure.withNewLog),
                    .finish(machine.targetFailure),
                ])
        }
    }

    func restartExpectation(_ machine: Machine, _ input: String) -> Expect {
        let handoverOnly: Set = [
            "prepared", "prepareFailed.remote", "prepareFailed.closed", "imported", "importFailed.remote", "importFailed.closed",
        ]
        let changed = Failure(reason: .sessionChanged, description: "the session was stopped during the upgrade", withNewLog: false)
        let endSession = Machine.Action.endSession(description: "the provider stopped for an upgrade", withNewLog: false)
        switch (machine.state, input) {
        case (.idle, "begin") where machine.replacesTun:
            return .go(
                .stoppingOld(sessionChanged: false),
                [.publishStarted(.tunFramingChanged), .sessionInput(.upgradeRestarting), .stopOld, .armStopGrace(after: .seconds(2))])
        case (.idle, "begin"): return .go(.keepingTun, [.publishStarted(.restart), .sessionInput(.upgradeRestarting), .keepTun])
        case (.idle, _), (_, "begin"): return .ignored(.notBegun)
        case (.replacingTun(let version), "tunReplaced"): return .go(.spawning(version), [.spawnNew(version, tun: .kept)])
        case (.replacingTun(let version), "replaceTunFailed"):
            return failStart(
                machine, version, [], Failure(reason: .spawnFailed, description: "creating a TUN for the version: x", withNewLog: false))
        case (.replacingTun, _): return .ignored(.duringSynchronousAction)
        case (.keepingTun, "tunKept"): return .go(.stoppingOld(sessionChanged: false), [.stopOld, .armStopGrace(after: .seconds(2))])
        case (.keepingTun, "keepTunFailed"):
            let failure = Failure(reason: .spawnFailed, description: "duplicating the TUN descriptor: x", withNewLog: false)
            return .go(.failed, [.sessionInput(.upgradeRestarted), .publishFailed(failure), .finish(failure)])
        case (.keepingTun, _): return .ignored(.duringSynchronousAction)
        case (.stoppingOld(let flag), "stopGraceElapsed"): return .go(.stoppingOld(sessionChanged: flag), [.killOld])
        case (.stoppingOld(false), "sessionChanged"): return .go(.stoppingOld(sessionChanged: true), [])
        case (.stoppingOld(false), "oldExited") where machine.replacesTun:
            return .go(.replacingTun(.target), [.cancelStopGrace, .replaceTun(.target)])
        case (.stoppingOld(false), "oldExited"): return .go(.spawning(.target), [.cancelStopGrace, .spawnNew(.target, tun: .kept)])
        case (.stoppingOld(true), "oldExited"): return .go(.failed, [.cancelStopGrace, .closeKeptTun, endSession, .finish(changed)])
        case (.spawning(let version), "spawned"): return .go(.starting(version), [.armDeadline(after: .seconds(3)), .callStart])
        case (.spawning(let version), "spawnFailed"):
            return failStart(machine, version, [], Failure(reason: .spawnFailed, description: "x", withNewLog: false))
        case (.spawning, _): return .ignored(.duringSynchronousAction)
        case (.starting(.target), "started"):
            return .go(
                .completed,
                [
                    .cancelDeadline, .closeKeptTun, .switchRun(.target), .closeOld, .sessionInput(.upgradeRestarted),
                    .publishCompleted(machine.replacesTun ? .tunFramingChanged : .restart), .finish(nil),
                ])
        case (.starting(.previous), "started"):
            return .go(
                .failed,
                [
                    .cancelDeadline, .closeKeptTun, .switchRun(.previous), .closeOld, .sessionInput(.upgradeRestarted),
                    .finish(machine.targetFailure),
                ])
        case (.starting, "startFailed.closed"): return .ignored(.channelClosed)
        case (.starting(let version), "startFailed.remote"):
            return failStart(
                machine, version, [.cancelDeadline, .discardNew], Failure(reason: .startFailed, description: "x", withNewLog: true))
        case (.starting(let version), "parametersUnavailable"):
            return failStart(
                machine, version, [.cancelDeadline, .discardNew],
                Failure(reason: .sessionChanged, description: "the profile is gone", withNewLog: true))
        case (.starting(let version), "deadline"):
            return failStart(
                machine, version, [.discardNew],
                Failure(reason: .healthTimeout, description: "StartTunnel did not finish in time", withNewLog: true))
        case (.starting(let version), "newExited"):
            return failStart(
                machine, version, [.cancelDeadline, .discardNew],
                Failure(reason: .newProviderExited, description: "the new version exited while starting (status 1)", withNewLog: true))
        case (.starting, "newCancelled"), (.starting, "newCancelled.nil"): return .ignored(.cancelWhileStarting)
        case (.starting, "sessionChanged"):
            return .go(.failed, [.cancelDeadline, .discardNew, .closeKeptTun, endSession, .finish(machine.targetFailure ?? changed)])
        default: break
        }
        if handoverOnly.contains(input) { return .ignored(.wrongMode) }
        switch input {
        case "started", "startFailed.remote", "startFailed.closed":
            return .ignored(machine.state == .failed ? .lateReply : .unrequestedResult)
        case "tunKept", "keepTunFailed", "tunReplaced", "replaceTunFailed", "spawned", "spawnFailed", "parametersUnavailable":
            return .ignored(.unrequestedResult)
        case "deadline", "stopGraceElapsed": return .ignored(.staleTimer)
        case "sessionChanged": return .ignored(.sessionChangeAfterEnd)
        default: return .ignored(.notWatched)  // newExited, newCancelled, oldExited
        }
    }
}
