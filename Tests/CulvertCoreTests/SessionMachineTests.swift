// SessionMachine: every path of contract 7's session states, as inputs and the actions they produce.

import CulvertCore
import XCTest

final class SessionMachineTests: XCTestCase {
    let timing = SessionTiming(
        startTimeout: .seconds(3), stopTimeout: .seconds(2), restartBaseDelay: .milliseconds(250), restartMaximumDelay: .seconds(1),
        stablePeriod: .seconds(10))
    let crash = SessionFailure(reason: .providerCrashed, description: "killed by SIGSEGV", signal: "SIGSEGV", log: ["boom"])

    func transitions(_ actions: [SessionMachine.Action]) -> [String] {
        actions.compactMap {
            if case .transition(let from, let to, let reason) = $0 { return "\(from.rawValue)→\(to.rawValue):\(reason)" }
            return nil
        }
    }

    func testConnectStartDisconnect() {
        var machine = SessionMachine(alwaysOn: false, timing: timing)
        let connect = machine.handle(.connect)
        XCTAssertEqual(transitions(connect), ["disconnected→connecting:user_request"])
        XCTAssertEqual(connect.last, .launch)
        let started = machine.handle(.started)
        XCTAssertEqual(transitions(started), ["connecting→connected:provider_started"])
        XCTAssertTrue(started.contains(.finishConnectWaiters(nil)))
        XCTAssertTrue(started.contains(.armStableTimer))
        let stop = machine.handle(.disconnect(.userRequest))
        XCTAssertEqual(transitions(stop), ["connected→disconnecting:user_request"])
        XCTAssertEqual(stop.last, .stop(.userRequest))
        let exited = machine.handle(.providerExited(SessionFailure(reason: .providerExited, description: "status 0", exitStatus: 0)))
        XCTAssertEqual(exited.first, .tearDown)
        XCTAssertEqual(transitions(exited), ["disconnecting→disconnected:user_request"])
        XCTAssertTrue(exited.contains(.finishDisconnectWaiters))
        XCTAssertNil(machine.lastFailure, "a requested stop is not a failure")
        XCTAssertFalse(machine.wanted)
    }

    func testUpgradeRestartReassertsThenConnects() {
        var machine = SessionMachine(alwaysOn: false, timing: timing)
        _ = machine.handle(.connect)
        _ = machine.handle(.started)
        let restarting = machine.handle(.upgradeRestarting)
        XCTAssertEqual(transitions(restarting), ["connected→reasserting:extension_upgrade"])
        XCTAssertEqual(restarting.count, 1, "no stop, no teardown: the supervisor swaps the provider")
        XCTAssertEqual(transitions(machine.handle(.upgradeRestarted)), ["reasserting→connected:extension_upgraded"])
        XCTAssertEqual(machine.handle(.upgradeRestarted), [], "late duplicate")
        XCTAssertTrue(machine.wanted)
    }

    func testReasserting() {
        var machine = SessionMachine(alwaysOn: false, timing: timing)
        _ = machine.handle(.connect)
        _ = machine.handle(.started)
        XCTAssertEqual(transitions(machine.handle(.reasserting(true))), ["connected→reasserting:provider_reasserting"])
        XCTAssertEqual(transitions(machine.handle(.reasserting(false))), ["reasserting→connected:provider_reasserted"])
        XCTAssertEqual(machine.handle(.reasserting(false)), [], "not reasserting: nothing to do")
    }

    func testCrashWhileConnectingFailsWaitersAndRestsWithoutAlwaysOn() {
        var machine = SessionMachine(alwaysOn: false, timing: timing)
        _ = machine.handle(.connect)
        let actions = machine.handle(.providerExited(crash))
        XCTAssertEqual(actions.first, .tearDown)
        XCTAssertTrue(actions.contains(.finishConnectWaiters(crash)), "answered after the teardown")
        XCTAssertEqual(transitions(actions), ["connecting→disconnected:provider_crashed"])
        XCTAssertFalse(actions.contains { if case .scheduleRestart = $0 { return true } else { return false } })
        XCTAssertEqual(machine.lastFailure, crash)
        XCTAssertFalse(machine.wanted)
    }

    func testStartTimeoutKillsAndReportsTimeout() {
        var machine = SessionMachine(alwaysOn: false, timing: timing)
        _ = machine.handle(.connect)
        let timeout = machine.handle(.startTimedOut)
        XCTAssertEqual(transitions(timeout), ["connecting→disconnecting:start_timeout"])
        XCTAssertEqual(timeout.last, .kill)
        let exited = machine.handle(.providerExited(SessionFailure(reason: .providerExited, description: "killed", signal: "SIGKILL")))
        XCTAssertEqual(transitions(exited), ["disconnecting→disconnected:start_timeout"])
        XCTAssertTrue(
            exited.contains { if case .finishConnectWaiters(let f?) = $0 { return f.reason == .startTimeout } else { return false } })
        XCTAssertEqual(machine.lastFailure?.reason, .startTimeout)
    }

    func testAlwaysOnRestartsWithDoublingCappedBackoffAndResetsWhenStable() {
        var machine = SessionMachine(alwaysOn: true, timing: timing)
        _ = machine.handle(.connect)
        var delays: [Duration] = []
        for _ in 0..<4 {
            _ = machine.handle(.started)
            let actions = machine.handle(.providerExited(crash))
            for case .scheduleRestart(let delay, _) in actions { delays.append(delay) }
            XCTAssertEqual(machine.state, .disconnected)
            XCTAssertTrue(machine.restartPending)
            XCTAssertEqual(transitions(machine.handle(.restartDue)), ["disconnected→connecting:restart"])
        }
        XCTAssertEqual(delays, [.milliseconds(250), .milliseconds(500), .seconds(1), .seconds(1)])
        _ = machine.handle(.started)
        _ = machine.handle(.stablePeriodElapsed)
        XCTAssertEqual(machine.restarts, 0)
        let after = machine.handle(.providerExited(crash))
        XCTAssertTrue(after.contains(.scheduleRestart(after: .milliseconds(250), attempt: 1)))
    }

    func testDisconnectCancelsAPendingRestart() {
        var machine = SessionMachine(alwaysOn: true, timing: timing)
        _ = machine.handle(.connect)
        _ = machine.handle(.providerExited(crash))
        XCTAssertTrue(machine.restartPending)
        let actions = machine.handle(.disconnect(.userRequest))
        XCTAssertEqual(actions.first, .cancelRestart)
        XCTAssertFalse(machine.restartPending)
        XCTAssertEqual(machine.handle(.restartDue), [], "a stale timer does nothing")
    }

    func testDisconnectWhileConnectingFailsTheConnectWaiters() {
        var machine = SessionMachine(alwaysOn: false, timing: timing)
        _ = machine.handle(.connect)
        let actions = machine.handle(.disconnect(.userRequest))
        XCTAssertEqual(actions.last, .stop(.userRequest))
        let exited = machine.handle(.providerExited(SessionFailure(reason: .providerExited, description: "0", exitStatus: 0)))
        XCTAssertTrue(
            exited.contains { if case .finishConnectWaiters(let f?) = $0 { return f.reason == .disconnected } else { return false } })
    }

    func testConnectDuringAUserStopStartsAgainAfterwards() {
        var machine = SessionMachine(alwaysOn: false, timing: timing)
        _ = machine.handle(.connect)
        _ = machine.handle(.started)
        _ = machine.handle(.disconnect(.userRequest))
        XCTAssertEqual(machine.handle(.connect), [])
        let exited = machine.handle(.providerExited(SessionFailure(reason: .providerExited, description: "0", exitStatus: 0)))
        XCTAssertEqual(transitions(exited), ["disconnecting→disconnected:user_request", "disconnected→connecting:user_request"])
        XCTAssertEqual(exited.last, .launch)
    }

    func testProviderCancelStopsWithItsReason() {
        var machine = SessionMachine(alwaysOn: false, timing: timing)
        _ = machine.handle(.connect)
        _ = machine.handle(.started)
        let cancel = SessionFailure(reason: .providerCancelled, description: "auth failed")
        let actions = machine.handle(.cancelled(cancel))
        XCTAssertEqual(transitions(actions), ["connected→disconnecting:provider_cancelled"])
        XCTAssertEqual(actions.last, .stop(.providerCancelled))
        _ = machine.handle(.providerExited(SessionFailure(reason: .providerExited, description: "0", exitStatus: 0)))
        XCTAssertEqual(machine.lastFailure, cancel)
        XCTAssertEqual(machine.state, .disconnected)
    }

    func testInvalidateOnlyWhenNothingRuns() {
        var machine = SessionMachine(alwaysOn: false, timing: timing)
        _ = machine.handle(.connect)
        XCTAssertEqual(machine.invalidate(reason: "profile_removed"), [])
        _ = machine.handle(.providerExited(crash))
        XCTAssertEqual(transitions(machine.invalidate(reason: "profile_removed")), ["disconnected→invalid:profile_removed"])
        XCTAssertEqual(transitions(machine.handle(.connect)), ["invalid→connecting:user_request"])
    }

    func testReadoptionResumesAConnectedSessionThatIsWanted() {
        var machine = SessionMachine(alwaysOn: false, timing: timing)
        let actions = machine.handle(.readopted)
        XCTAssertEqual(transitions(actions), ["disconnected→connected:readopted"])
        XCTAssertTrue(actions.contains(.armStableTimer))
        XCTAssertTrue(machine.wanted)
        XCTAssertEqual(machine.handle(.readopted), [], "only once")
        XCTAssertEqual(transitions(machine.handle(.disconnect(.userRequest))), ["connected→disconnecting:user_request"])
    }

    func testLateInputsChangeNothing() {
        var machine = SessionMachine(alwaysOn: false, timing: timing)
        for input: SessionMachine.Input in [
            .started, .startTimedOut, .stopTimedOut, .reasserting(true), .restartDue, .providerExited(crash),
        ] {
            XCTAssertEqual(machine.handle(input), [], "\(input)")
            XCTAssertEqual(machine.state, .disconnected)
        }
    }
}
