// UpgradePolicyMachine: every state × policy × input pair against the table in its header, and
// the when-idle and on-disconnect paths as an administrator meets them.

import CulvertCore
import Foundation
import XCTest

final class UpgradePolicyMachineTests: XCTestCase {
    typealias Machine = UpgradePolicyMachine
    let idle = 10.0
    let busy = TrafficSample(packets: ["s1/100": [5, 7]])
    let busier = TrafficSample(packets: ["s1/100": [6, 8]])
    let none = TrafficSample(packets: [:])

    func machine(_ state: Machine.State, _ policy: UpgradePolicy) -> Machine {
        var machine = Machine(policy: policy, idleInterval: idle, staged: state != .nothingStaged)
        if state == .applying { XCTAssertEqual(machine.handle(.ask), [.apply]) }
        XCTAssertEqual(machine.state, state)
        return machine
    }

    /// Every input but traffic (covered below with times).
    var inputs: [Machine.Input] {
        [
            .install(sessionsRunning: true), .install(sessionsRunning: false), .sessions(running: true), .sessions(running: false), .ask,
            .cancel, .finished,
        ]
            + UpgradePolicy.allCases.map { .setPolicy($0) }
    }

    /// What the header's table says, written out independently of the machine's code.
    func expected(_ state: Machine.State, _ policy: UpgradePolicy, _ input: Machine.Input) -> ([Machine.Action], Machine.State) {
        switch (state, input) {
        case (.applying, .install), (.applying, .ask), (.applying, .cancel): return ([.refuse(.inProgress)], .applying)
        case (.applying, .finished): return ([], .nothingStaged)
        case (.applying, _): return ([], .applying)
        case (_, .install(let running)): return running && policy != .now ? ([.stage], .waiting) : ([.apply], .applying)
        case (.nothingStaged, .ask), (.nothingStaged, .cancel): return ([.refuse(.nothingStaged)], .nothingStaged)
        case (.nothingStaged, _): return ([], .nothingStaged)
        case (.waiting, .setPolicy(let new)): return new == .now ? ([.apply], .applying) : ([], .waiting)
        case (.waiting, .sessions(let running)): return !running && policy != .ask ? ([.apply], .applying) : ([], .waiting)
        case (.waiting, .ask): return ([.apply], .applying)
        case (.waiting, .cancel): return ([.drop], .nothingStaged)
        case (.waiting, _): return ([], .waiting)
        }
    }

    func testEveryStatePolicyAndInput() {
        var pairs = 0
        for state in Machine.State.allCases {
            for policy in UpgradePolicy.allCases {
                for input in inputs {
                    var machine = machine(state, policy)
                    let actions = machine.handle(input)
                    let (wantActions, wantState) = expected(state, policy, input)
                    XCTAssertEqual(actions, wantActions, "\(state) \(policy) \(input)")
                    XCTAssertEqual(machine.state, wantState, "\(state) \(policy) \(input)")
                    if case .setPolicy(let new) = input {
                        XCTAssertEqual(machine.policy, new)
                    } else {
                        XCTAssertEqual(machine.policy, policy)
                    }
                    pairs += 1
                }
            }
        }
        XCTAssertEqual(pairs, 3 * 4 * 11)
    }

    func testTrafficIsIgnoredUnlessWaitingWhenIdleOrOnDisconnect() {
        for state in Machine.State.allCases {
            for policy in UpgradePolicy.allCases {
                var machine = machine(state, policy)
                let actions = machine.handle(.traffic(none, at: 0))
                let applies = state == .waiting && (policy == .whenIdle || policy == .onDisconnect)
                XCTAssertEqual(actions, applies ? [.apply] : [], "\(state) \(policy): no session runs")
                var busyMachine = self.machine(state, policy)
                for at in [0.0, 100, 200] {
                    XCTAssertEqual(busyMachine.handle(.traffic(busy, at: at)), applies && policy == .whenIdle && at >= idle ? [.apply] : [])
                    if busyMachine.state == .applying { break }
                }
            }
        }
    }

    func testWhenIdleWaitsForAQuietIntervalAndStartsOverOnTraffic() {
        var machine = machine(.waiting, .whenIdle)
        XCTAssertEqual(machine.handle(.traffic(busy, at: 100)), [], "the first sample only sets the baseline")
        XCTAssertEqual(machine.handle(.traffic(busy, at: 109.9)), [], "quiet, but not for the whole interval")
        XCTAssertEqual(machine.handle(.traffic(busier, at: 110)), [], "a packet moved: the interval starts again")
        XCTAssertEqual(machine.quietSince, 110)
        XCTAssertEqual(machine.handle(.traffic(busier, at: 119)), [])
        XCTAssertEqual(machine.handle(.sessions(running: true)), [], "sessions still run")
        XCTAssertEqual(machine.handle(.traffic(busier, at: 120)), [.apply])
        XCTAssertEqual(machine.state, .applying)
        XCTAssertEqual(machine.handle(.traffic(busier, at: 200)), [], "one switch at a time")
        XCTAssertEqual(machine.handle(.finished), [])
        XCTAssertEqual(machine.state, .nothingStaged)
        XCTAssertNil(machine.lastSample)
    }

    func testANewSessionCountsAsTraffic() {
        var machine = machine(.waiting, .whenIdle)
        _ = machine.handle(.traffic(busy, at: 0))
        var more = busy
        more.packets["s2/200"] = [0, 0]
        XCTAssertEqual(machine.handle(.traffic(more, at: 20)), [], "another session appeared: not the same sample")
        XCTAssertEqual(machine.handle(.traffic(more, at: 30)), [.apply])
    }

    func testRestagingOrChangingThePolicyForgetsTheQuietTime() {
        var machine = machine(.waiting, .whenIdle)
        _ = machine.handle(.traffic(busy, at: 0))
        XCTAssertEqual(machine.handle(.install(sessionsRunning: true)), [.stage], "a second install replaces the staged version")
        XCTAssertEqual(machine.handle(.traffic(busy, at: 15)), [], "counted from the new staging")
        XCTAssertEqual(machine.handle(.setPolicy(.whenIdle)), [])
        XCTAssertNil(machine.quietSince)
        XCTAssertEqual(machine.handle(.traffic(busy, at: 20)), [])
        XCTAssertEqual(machine.handle(.traffic(busy, at: 30)), [.apply])
    }

    func testOnDisconnectSwitchesOnlyWhenNoSessionRuns() {
        var machine = machine(.nothingStaged, .onDisconnect)
        XCTAssertEqual(machine.handle(.install(sessionsRunning: true)), [.stage])
        XCTAssertEqual(machine.handle(.traffic(busy, at: 0)), [])
        XCTAssertEqual(machine.handle(.traffic(busy, at: 1000)), [], "idle is not disconnected")
        XCTAssertEqual(machine.handle(.sessions(running: true)), [])
        XCTAssertEqual(machine.handle(.sessions(running: false)), [.apply])
    }

    func testAskWaitsForTheAdministratorAndCancelDrops() {
        var machine = machine(.nothingStaged, .ask)
        XCTAssertEqual(machine.handle(.install(sessionsRunning: true)), [.stage])
        XCTAssertEqual(machine.handle(.sessions(running: false)), [], "ask waits even with no session")
        XCTAssertEqual(machine.handle(.traffic(none, at: 0)), [])
        XCTAssertEqual(machine.handle(.cancel), [.drop])
        XCTAssertEqual(machine.handle(.cancel), [.refuse(.nothingStaged)])
        XCTAssertEqual(machine.handle(.ask), [.refuse(.nothingStaged)])
        XCTAssertEqual(machine.handle(.install(sessionsRunning: true)), [.stage])
        XCTAssertEqual(machine.handle(.ask), [.apply])
        XCTAssertEqual(machine.handle(.cancel), [.refuse(.inProgress)], "too late to cancel")
        XCTAssertEqual(machine.handle(.install(sessionsRunning: true)), [.refuse(.inProgress)])
    }

    func testAStartWithAStagedVersionReEvaluates() {
        var machine = Machine(policy: .onDisconnect, idleInterval: idle, staged: true)
        XCTAssertEqual(machine.state, .waiting)
        XCTAssertEqual(machine.handle(.sessions(running: false)), [.apply], "after a crash with no session left")
        var now = Machine(policy: .ask, idleInterval: idle, staged: true)
        XCTAssertEqual(now.handle(.setPolicy(.now)), [.apply], "the policy became now while culvertd was down")
    }

    func testPolicyNamesAreTheCommandLineOnes() throws {
        XCTAssertEqual(UpgradePolicy.allCases.map(\.rawValue), ["now", "when-idle", "on-disconnect", "ask"])
        XCTAssertEqual(UpgradePolicy.builtInDefault, .now)
        XCTAssertThrowsError(try JSONDecoder().decode([UpgradePolicy].self, from: Data(#"["whenever"]"#.utf8)))
    }
}
