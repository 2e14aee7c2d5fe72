// SessionMachine: every state × input pair — where it goes, or why it is ignored (the paths are in SessionMachineTests).

import CulvertCore
import XCTest

final class SessionMachinePairTests: XCTestCase {
    let timing = SessionTiming(startTimeout: .seconds(3), stopTimeout: .seconds(2))
    let failure = SessionFailure(reason: .providerCrashed, description: "killed by SIGSEGV", signal: "SIGSEGV")

    var inputs: [SessionMachine.Input] {
        [
            .connect, .disconnect(.userRequest), .launchFailed(failure), .started, .startFailed(failure), .startTimedOut,
            .reasserting(true),
            .reasserting(false), .cancelled(failure), .providerExited(failure), .stopTimedOut, .restartDue, .stablePeriodElapsed,
            .readopted,
            .upgradeRestarting, .upgradeRestarted,
        ]
    }

    /// One row per state, one column per input (in `inputs` order): "→state" when it moves (or stays)
    /// with actions, otherwise the reason it is ignored.
    let table: [(String, [SessionMachine.Input], [String])] = [
        (
            "disconnected", [],
            [
                "→connecting", "→disconnected", "noRun", "noRun", "noRun", "staleTimer", "noRun", "noRun", "noRun", "noRun", "staleTimer",
                "staleTimer", "staleTimer", "→connected", "noRun", "noRun",
            ]
        ),
        (
            "disconnected, restart pending", [.connect, .providerExited(SessionFailure(reason: .providerCrashed, description: "x"))],
            [
                "→connecting", "→disconnected", "noRun", "noRun", "noRun", "staleTimer", "noRun", "noRun", "noRun", "noRun", "staleTimer",
                "→connecting", "staleTimer", "→connected", "noRun", "noRun",
            ]
        ),
        (
            "invalid", [],
            [
                "→connecting", "noRun", "noRun", "noRun", "noRun", "staleTimer", "noRun", "noRun", "noRun", "noRun", "staleTimer",
                "staleTimer", "staleTimer", "→connected", "noRun", "noRun",
            ]
        ),
        (
            "connecting", [.connect],
            [
                "→connecting", "→disconnecting", "→disconnected", "→connected", "→disconnecting", "→disconnecting", "notConnected",
                "notConnected", "→disconnecting", "→disconnected", "staleTimer", "staleTimer", "staleTimer", "alreadyThere", "notConnected",
                "notConnected",
            ]
        ),
        (
            "connected", [.connect, .started],
            [
                "→connected", "→disconnecting", "notStarting", "notStarting", "notStarting", "notStarting", "→reasserting", "alreadyThere",
                "→disconnecting", "→disconnected", "staleTimer", "staleTimer", "→connected", "alreadyThere", "→reasserting", "alreadyThere",
            ]
        ),
        (
            "reasserting", [.connect, .started, .reasserting(true)],
            [
                "→reasserting", "→disconnecting", "notStarting", "notStarting", "notStarting", "notStarting", "alreadyThere", "→connected",
                "→disconnecting", "→disconnected", "staleTimer", "staleTimer", "→reasserting", "alreadyThere", "alreadyThere", "→connected",
            ]
        ),
        (
            "disconnecting", [.connect, .started, .disconnect(.userRequest)],
            [
                "→disconnecting", "→disconnecting", "stopping", "stopping", "stopping", "stopping", "stopping", "stopping", "stopping",
                "→disconnected", "→disconnecting", "staleTimer", "staleTimer", "stopping", "stopping", "stopping",
            ]
        ),
    ]

    func reasonName(_ reason: SessionMachine.IgnoredInput) -> String {
        switch reason {
        case .noRun: return "noRun"
        case .notStarting: return "notStarting"
        case .notConnected: return "notConnected"
        case .alreadyThere: return "alreadyThere"
        case .stopping: return "stopping"
        case .staleTimer: return "staleTimer"
        }
    }

    func testEveryStateAndInput() {
        var covered: Set<SessionState> = []
        for (name, path, expected) in table {
            var start = SessionMachine(alwaysOn: true, timing: timing)
            if name == "invalid" { _ = start.invalidate(reason: "profile_removed") }
            for input in path {
                guard case .actions = start.step(input) else { return XCTFail("path of \(name) at \(input)") }
            }
            covered.insert(start.state)
            XCTAssertEqual(expected.count, inputs.count, name)
            for (input, expectation) in zip(inputs, expected) {
                var machine = start
                let outcome = machine.step(input)
                switch outcome {
                case .actions(let actions):
                    XCTAssertEqual("→" + machine.state.rawValue, expectation, "\(name) × \(input)")
                    var again = start
                    XCTAssertEqual(again.handle(input), actions, "handle performs what step says: \(name) × \(input)")
                case .ignored(let reason):
                    XCTAssertEqual(reasonName(reason), expectation, "\(name) × \(input)")
                    XCTAssertEqual(machine, start, "an ignored input changes nothing: \(name) × \(input)")
                    var again = start
                    XCTAssertEqual(again.handle(input), [], "\(name) × \(input)")
                }
            }
        }
        XCTAssertEqual(covered, Set(SessionState.allCases))
    }
}
