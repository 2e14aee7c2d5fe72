// TunnelSession: one profile's session — its state machine, what it reports, the provider run
// it currently has, and the clients waiting on it. Confined to the manager queue.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import Dispatch

final class TunnelSession: @unchecked Sendable {  // confined to the manager queue
    let profileName: String
    var machine: SessionMachine
    var info: SessionInfo
    var run: ProviderRun?
    /// The output of the last run that ended, for `session log` after the fact.
    var lastLog: ProcessLog?
    var connectWaiters: [VarlinkReplier] = []
    var disconnectWaiters: [VarlinkReplier] = []
    var restartTimer: DispatchWorkItem?
    var stableTimer: DispatchWorkItem?
    /// Who asked for the current connect, until the session next starts.
    var pendingActor: Actor?
    /// What the current Connect resolved, until its launch takes it (a restart looks it up anew).
    var pendingTarget: LaunchTarget?
    /// The profile was removed: once stopped, the session is invalid.
    var profileRemoved = false
    /// Actions waiting for an asynchronous step (the DNS revert of a teardown); nil when none.
    var suspendedActions: [SessionMachine.Action]?
    /// The live upgrade in progress, if any: it decides about its runs' exits and calls.
    var upgrade: UpgradeDriver?
    /// Inputs that arrived while actions were suspended, in order.
    var deferredInputs: [SessionMachine.Input] = []
    /// An explicit Disconnect (or the profile's removal) asked for: the kill switch is released
    /// once the session is down. A Connect before that clears it.
    var releaseKillSwitch = false

    init(profile: Profile, extensionVersion: String, timing: SessionTiming) {
        profileName = profile.name
        machine = SessionMachine(alwaysOn: profile.alwaysOn, timing: timing)
        info = SessionInfo(
            profile: profile.name, id: "", extensionIdentifier: profile.extensionIdentifier, extensionVersion: extensionVersion,
            requestedAt: WallClock.rfc3339Now())
    }

    /// The provider's output lines: the running provider's, else the last run's.
    var logLines: [String] { (run?.log ?? lastLog)?.lines ?? [] }
}
