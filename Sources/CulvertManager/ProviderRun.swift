// ProviderRun: the resources of one running provider process — its TUN, its channel, its pidfd
// and output pipe, the network settings applied for it — owned by a TunnelSession.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import Dispatch

/// One provider process and what culvertd holds for it. Confined to the manager queue.
final class ProviderRun: @unchecked Sendable {  // confined to the manager queue (Dispatch handlers hop onto it)
    let tun: TunDevice
    let channel: VarlinkPeer
    let process: SpawnedProcess
    var log: ProcessLog
    var exitSource: (any DispatchSourceRead)?
    var outputSource: (any DispatchSourceRead)?
    /// What SetTunnelNetworkSettings applied, to revert on teardown.
    var applied: AppliedNetworkTransaction?
    var plan: TunnelSettingsPlan?
    var startDeadline: DispatchWorkItem?
    var stopDeadline: DispatchWorkItem?
    /// Set when culvertd sent SIGKILL, so the signal is not reported as a crash.
    var killedByDaemon = false
    var exit: ProcessExit?
    /// What a culvertd started after a crash needs to find and take over this provider.
    var record: SessionRecord?
    /// Taken over from a previous culvertd (not our child: no exit status).
    var adopted = false
    /// While set, the exit source calls this instead of reporting the exit to the session (a live
    /// upgrade's run that is not, or no longer, the session's).
    var exitOverride: ((ProviderRun) -> Void)?

    init(tun: TunDevice, channel: VarlinkPeer, process: SpawnedProcess, log: ProcessLog) {
        self.tun = tun
        self.channel = channel
        self.process = process
        self.log = log
    }

    /// The process's exit once it has ended (call when its pidfd polls readable). A re-adopted
    /// provider is not our child: its status went to its original parent, so it reads `exited(-1)`.
    func endedExit() throws(SystemError) -> ProcessExit? {
        do {
            return try process.exitIfEnded()
        } catch  where error.errno == Self.ECHILD && adopted {
            return .exited(-1)
        }
    }

    private static let ECHILD: Int32 = 10

    /// Moves pending output into the log; true once the pipe has reached end of file.
    @discardableResult
    func drainOutput() -> Bool {
        // try?: a read error on our own pipe end means no more output; the log keeps what it has.
        (try? process.readOutput(into: &log)) != .open
    }

    func cancelTimers() {
        startDeadline?.cancel()
        stopDeadline?.cancel()
        startDeadline = nil
        stopDeadline = nil
    }

    /// Releases every descriptor. The network settings must have been reverted first.
    /// `keepingProcess`: the process handle stays open for whoever still reaps it.
    func close(keepingProcess: Bool = false) {
        cancelTimers()
        exitSource?.cancel()
        outputSource?.cancel()
        exitSource = nil
        outputSource = nil
        channel.close()
        tun.descriptor.close()
        if !keepingProcess { process.close() }
    }
}
