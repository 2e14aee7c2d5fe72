// NetworkTransaction: a tunnel's network settings applied all or nothing (docs/DESIGN.md contract 8).
//
//     validate ──ok──► step 0 ► step 1 ► … ► step n-1 ──► AppliedNetworkTransaction (holds the undo steps)
//        │                        │ fails
//        ▼                        ▼
//   invalidStep            undo steps k-1 … 0 (best effort) ──► stepFailed(k, cause, rollbackFailures)
//   (nothing applied)

import CNetlink

/// Why a step was refused before anything was applied.
public enum NetworkStepProblem: String, Sendable, Hashable {
    /// The MTU is outside `CulvertNetlink.minimumMTU...maximumMTU`.
    case mtuOutOfRange
    /// An IPv6 address is added to a link that this transaction gives an MTU below 1280.
    case mtuTooSmallForIPv6
    /// The interface index is not positive.
    case invalidInterfaceIndex
    /// The routing table is 0 (unspecified) or the kernel's reserved 255 (local).
    case invalidTable
    /// `suppress_prefixlength` is longer than the family's addresses.
    case suppressLengthOutOfRange
    /// The same step appears twice.
    case duplicateStep
}

/// Why a step failed while it was being applied.
public enum NetworkStepFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kernel (through libnl) refused it.
    case netlink(NetlinkError)
    /// A test asked for this step to fail (`apply(on:injectingFailureAt:)`); it was not attempted.
    case injected

    public var description: String {
        switch self {
        case .netlink(let error): return error.description
        case .injected: return "injected failure"
        }
    }
}

/// An undo step that failed during rollback or revert: the kernel keeps that part of the settings.
public struct RollbackFailure: Sendable, Equatable, CustomStringConvertible {
    public var step: NetworkStep
    public var error: NetlinkError
    public var description: String { "\(step): \(error)" }
}

/// How a transaction failed.
public enum NetworkTransactionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Step `index` is invalid; nothing was applied.
    case invalidStep(index: Int, step: NetworkStep, problem: NetworkStepProblem)
    /// The transaction has more than `CulvertNetlink.maximumTransactionSteps` steps; nothing was applied.
    case tooManySteps(count: Int)
    /// Step `index` failed; steps 0..<index were undone in reverse order. `rollbackFailures` lists the
    /// undo steps that failed too (empty when the kernel is back where it started).
    case stepFailed(index: Int, step: NetworkStep, cause: NetworkStepFailure, rollbackFailures: [RollbackFailure])

    public var description: String {
        switch self {
        case .invalidStep(let index, let step, let problem): return "step \(index) (\(step)) is invalid: \(problem.rawValue)"
        case .tooManySteps(let count): return "\(count) steps (at most \(CulvertNetlink.maximumTransactionSteps))"
        case .stepFailed(let index, let step, let cause, let rollbackFailures):
            let rollback = rollbackFailures.isEmpty ? "rolled back" : "rollback incomplete: \(rollbackFailures)"
            return "step \(index) (\(step)) failed: \(cause); \(rollback)"
        }
    }
}

/// Settings that were applied, with the steps that take them away again (in the order to run them).
public struct AppliedNetworkTransaction: Sendable, Hashable {
    public let undoSteps: [NetworkStep]

    /// Settings applied earlier (by a culvertd that has since crashed): what takes `steps` away.
    /// Link changes are not undone — their interface goes away with its TUN.
    public init(adopting steps: [NetworkStep]) {
        undoSteps = steps.reversed().compactMap { step in
            switch step {
            case .addAddress(let address, let index): return .removeAddress(address, interfaceIndex: index)
            case .addRoute(let route): return .removeRoute(route)
            case .addRule(let rule): return .removeRule(rule)
            case .setMTU, .setLinkUp, .removeAddress, .removeRoute, .removeRule: return nil
            }
        }
    }

    init(undoSteps: [NetworkStep]) { self.undoSteps = undoSteps }

    /// Runs every undo step, continuing past failures (a session being torn down removes as much as
    /// it can). Returns the steps that failed; empty means the kernel is back where it started.
    public func revert(on socket: NetlinkRouteSocket) -> [RollbackFailure] {
        runUndo(undoSteps, on: socket)
    }
}

/// Runs `steps` in order, collecting failures instead of stopping. A removal that finds its object
/// already gone has reached its goal: the kernel removes some objects along with others (setting a
/// link down flushes its IPv6 addresses; removing an address removes the routes that use it).
private func runUndo(_ steps: [NetworkStep], on socket: NetlinkRouteSocket) -> [RollbackFailure] {
    var failures: [RollbackFailure] = []
    for step in steps {
        do {
            _ = try step.apply(on: socket)
        } catch  where step.isRemoval && (error.code == NLE_NOADDR || error.code == NLE_OBJ_NOTFOUND) {
            continue
        } catch {
            failures.append(RollbackFailure(step: step, error: error))
        }
    }
    return failures
}

/// An ordered list of network changes applied as one unit.
public struct NetworkTransaction: Sendable, Hashable {
    public let steps: [NetworkStep]

    public init(steps: [NetworkStep]) { self.steps = steps }

    /// Checks every step without touching the kernel.
    public func validate() throws(NetworkTransactionError) {
        guard steps.count <= CulvertNetlink.maximumTransactionSteps else { throw .tooManySteps(count: steps.count) }
        var seen = Set<NetworkStep>()
        // The MTU each link ends up with, whatever the order of its steps.
        var mtus: [Int32: Int] = [:]
        for case .setMTU(let mtu, let interfaceIndex) in steps { mtus[interfaceIndex] = mtu }
        for (index, step) in steps.enumerated() {
            func refuse(_ problem: NetworkStepProblem) -> NetworkTransactionError {
                .invalidStep(index: index, step: step, problem: problem)
            }
            guard seen.insert(step).inserted else { throw refuse(.duplicateStep) }
            switch step {
            case .setMTU(let mtu, let interfaceIndex):
                guard interfaceIndex > 0 else { throw refuse(.invalidInterfaceIndex) }
                guard (CulvertNetlink.minimumMTU...CulvertNetlink.maximumMTU).contains(mtu) else { throw refuse(.mtuOutOfRange) }
            case .setLinkUp(_, let interfaceIndex), .removeAddress(_, let interfaceIndex):
                guard interfaceIndex > 0 else { throw refuse(.invalidInterfaceIndex) }
            case .addAddress(let address, let interfaceIndex):
                guard interfaceIndex > 0 else { throw refuse(.invalidInterfaceIndex) }
                if address.family == .ipv6, let mtu = mtus[interfaceIndex], mtu < CulvertNetlink.minimumIPv6MTU {
                    throw refuse(.mtuTooSmallForIPv6)
                }
            case .addRoute(let route), .removeRoute(let route):
                guard route.interfaceIndex > 0 || route.kind == .throw else { throw refuse(.invalidInterfaceIndex) }
                guard Self.isUsableTable(route.table) else { throw refuse(.invalidTable) }
            case .addRule(let rule), .removeRule(let rule):
                guard rule.action == .unreachable || Self.isUsableTable(rule.table) else { throw refuse(.invalidTable) }
                if case .suppressPrefixLength(let length) = rule.selector, Int(length) > rule.family.maximumPrefixLength {
                    throw refuse(.suppressLengthOutOfRange)
                }
            }
        }
    }

    /// Table 0 means "unspecified" and 255 is the kernel's local table, which Culvert never writes.
    private static func isUsableTable(_ table: UInt32) -> Bool { table != 0 && table != 255 }

    /// Validates, then applies every step in order on `socket`. If a step fails, every step already
    /// applied is undone in reverse order before the error is thrown.
    ///
    /// - Parameter failingStep: for tests: the index of a step that fails with `.injected` instead of
    ///   being attempted (nil in production).
    /// - Returns: the applied settings, whose `revert(on:)` takes them away again.
    /// - Throws: `.tooManySteps` or `.invalidStep` before anything is applied; `.stepFailed` after rollback.
    public func apply(on socket: NetlinkRouteSocket, injectingFailureAt failingStep: Int? = nil) throws(NetworkTransactionError)
        -> AppliedNetworkTransaction
    {
        try validate()
        var undo: [NetworkStep] = []
        for (index, step) in steps.enumerated() {
            do throws(NetworkStepFailure) {
                if index == failingStep { throw .injected }
                do { undo.append(try step.apply(on: socket)) } catch { throw .netlink(error) }
            } catch {
                let rollbackFailures = runUndo(undo.reversed(), on: socket)
                throw .stepFailed(index: index, step: step, cause: error, rollbackFailures: rollbackFailures)
            }
        }
        return AppliedNetworkTransaction(undoSteps: undo.reversed())
    }
}
