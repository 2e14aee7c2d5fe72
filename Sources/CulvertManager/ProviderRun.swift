// ProviderRun: the resources of one running provider process — its TUN, its channel, its pidfd
// and output pipe, the network settings applied for it — and the role it plays for its session.
// The role is what routes the run's exit and its calls (SessionSupervisor.runExited and
// .providerCall): the session's own run, an upgrade's successor, or a superseded run.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import Dispatch

/// One provider process and what culvertd holds for it. Confined to the manager queue.
final class ProviderRun: @unchecked Sendable {  // confined to the manager queue (Dispatch handlers hop onto it)
    /// Output lines a failure report carries.
    static let failureLogLines = 20

    /// What the run is to its session.
    enum Role: Sendable, Hashable {
        /// The session's run: its exit is the session's provider exiting, its calls act on the session.
        case session
        /// Started by a live upgrade and not yet the session's: the upgrade decides about its exit and calls.
        case successor
        /// Replaced by a newer version, or stopped for one: its calls are refused (NotReady superseded);
        /// its exit goes to the upgrade that still watches it, or only releases it.
        case superseded
    }

    let tun: TunDevice
    let channel: VarlinkPeer
    let process: SpawnedProcess
    var log: ProcessLog
    var role: Role = .session
    var exitSource: (any DispatchSourceRead)?
    var outputSource: (any DispatchSourceRead)?
    /// What SetTunnelNetworkSettings applied, to revert on teardown.
    var applied: AppliedNetworkTransaction?
    var plan: TunnelSettingsPlan?
    /// The remote addresses of the sockets this provider protected that were connected when it did
    /// (getpeername at Protect), at most `maximumProtectedEndpoints`; the settings check keeps
    /// every session's routes off them (SettingsConflicts).
    var protectedEndpoints: [IPAddress] = []
    static let maximumProtectedEndpoints = 64
    var startDeadline: DispatchWorkItem?
    var stopDeadline: DispatchWorkItem?
    /// Set when culvertd sent SIGKILL, so the signal is not reported as a crash.
    var killedByDaemon = false
    /// Set when culvertd killed the provider for breaking its channel's contract: how its exit is reported.
    var violation: SessionFailure?
    var exit: ProcessExit?
    /// What a culvertd started after a crash needs to find and take over this provider.
    var record: SessionRecord?
    /// Taken over from a previous culvertd (not our child: no exit status).
    var adopted = false
    /// Its identity, cgroup and refusal counter; ended (cgroup killed and removed, identity
    /// released) when the run is closed.
    var confinement: RunConfinement?
    /// Set by `close`: an upgrade that replaces the TUN closes the old run before the session lets go of it.
    private(set) var closed = false

    init(tun: TunDevice, channel: VarlinkPeer, process: SpawnedProcess, log: ProcessLog) {
        self.tun = tun
        self.channel = channel
        self.process = process
        self.log = log
    }

    /// Starts the pidfd and output-pipe sources; `onExit` runs on `queue` when the pidfd polls readable.
    func watch(on queue: DispatchQueue, onExit: @escaping (ProviderRun) -> Void) {
        let exitSource = DispatchSource.makeReadSource(fileDescriptor: process.processDescriptor.rawValue, queue: queue)
        exitSource.setEventHandler { [weak self] in
            guard let self else { return }
            onExit(self)
        }
        let outputSource = DispatchSource.makeReadSource(fileDescriptor: process.output.rawValue, queue: queue)
        outputSource.setEventHandler { [weak self] in
            guard let self, self.drainOutput() else { return }
            self.outputSource?.cancel()
            self.outputSource = nil
        }
        self.exitSource = exitSource
        self.outputSource = outputSource
        outputSource.resume()
        exitSource.resume()
    }

    /// Once the process has ended: its exit (reaped), its last output drained and the log
    /// finished. Nil while it still runs (or when the exit was already collected).
    func collectExit() throws(SystemError) -> ProcessExit? {
        guard exit == nil, let ended = try endedExit() else { return nil }
        exit = ended
        exitSource?.cancel()
        exitSource = nil
        // Whatever it wrote before dying belongs in the report; bounded by the pipe's capacity.
        for _ in 0..<16 where !drainOutput() {}
        log.finish()
        return ended
    }

    /// How an exit the session did not ask for is reported.
    func failure(for exit: ProcessExit) -> SessionFailure {
        let log = log.lastLines(Self.failureLogLines)
        if let violation { return SessionFailure(reason: violation.reason, description: violation.description, log: log) }
        switch exit {
        case .exited(let code) where code < 0:
            return SessionFailure(
                reason: .providerExited,
                description: "the re-adopted provider exited while the tunnel should run (its status went to its original parent)",
                log: log)
        case .exited(let code):
            return SessionFailure(
                reason: .providerExited, description: "the provider exited with status \(code) while the tunnel should run",
                exitStatus: Int64(code), log: log)
        case .signaled(let signal):
            let name = Self.signalName(signal)
            return SessionFailure(
                reason: killedByDaemon ? .providerExited : .providerCrashed,
                description: killedByDaemon ? "the provider was killed by culvertd" : "the provider was killed by \(name)",
                signal: name, log: log)
        }
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

    /// Releases every descriptor, once (later calls do nothing). The network settings must have been
    /// reverted first. `keepingProcess`: the process handle stays open for whoever still reaps it.
    func close(keepingProcess: Bool = false) {
        guard !closed else { return }
        closed = true
        cancelTimers()
        exitSource?.cancel()
        outputSource?.cancel()
        exitSource = nil
        outputSource = nil
        channel.close()
        // Everything the provider started dies with its cgroup before the TUN is let go, so no
        // leftover process keeps the interface alive.
        confinement?.end()
        tun.descriptor.close()
        if !keepingProcess { process.close() }
    }

    static func signalName(_ number: Int32) -> String {
        let names: [Int32: String] = [
            1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
            9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
        ]
        return names[number] ?? "signal \(number)"
    }
}
