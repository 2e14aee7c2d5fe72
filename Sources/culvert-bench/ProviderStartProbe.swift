// ProviderStartProbe: the connect-latency baseline that is only a provider starting. The same spawn
// culvertd uses (ProviderSpawn: fork, credential drop to `nobody`, execve of the installed copy),
// the provider runtime coming up, and one StartTunnel round trip on its channel, answered at once
// (`behaviour: fail-on-start`). What a Connect costs beyond this is culvertd's own work: the TUN,
// the channel calls (Protect, SetTunnelNetworkSettings), netlink, DNS and the session machine.
// No TUN and no network are involved; fd 3 is an unconnected socket the provider never reads.

import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch
import Foundation

struct ProviderStartProbe {
    /// Longest one probe may take before the run fails.
    static let replyTimeout: DispatchTimeInterval = .seconds(10)
    static let exitTimeout: Duration = .seconds(5)

    let executable: String
    let credentials: ProviderCredentials
    private let interface: VarlinkInterface
    private let queue = DispatchQueue(label: "culvert-bench.provider-probe")

    init(executable: String, user: String) throws {
        self.executable = executable
        credentials = try ProviderCredentials.lookUp(userNamed: user)
        interface = try VarlinkInterface(parsing: VarlinkBundledInterfaces.ioCulvertProvider)
    }

    /// Nanoseconds from spawn to the StartTunnel reply; the provider has exited when it returns.
    func measureOnce() throws -> UInt64 {
        let (ours, theirs) = try DescriptorPassing.socketPair()
        let (fakeTun, unused) = try DescriptorPassing.socketPair()
        unused.close()
        let start = WallClock.monotonicNanoseconds()
        let process: SpawnedProcess
        do {
            process = try ProviderSpawn(executablePath: executable, credentials: credentials).spawn(tun: fakeTun, channel: theirs)
        } catch {
            [ours, theirs, fakeTun].forEach { $0.close() }
            throw error
        }
        theirs.close()
        fakeTun.close()
        defer {
            if (try? process.waitForExit(timeout: Self.exitTimeout)) == nil {  // try?: already reaped or still running; kill either way
                _ = try? process.kill()  // try?: it may have exited in between
                _ = try? process.waitForExit(timeout: Self.exitTimeout)  // try?: best effort reap
            }
            process.close()
        }
        let done = DispatchSemaphore(value: 0)
        let outcome = ProbeOutcome()
        let peer = VarlinkPeer(descriptor: ours, interface: interface, serves: [], queue: queue)
        let parameters = StartTunnelParameters(
            session: SessionContext(profile: "bench", session: "bench", interface: "none"), options: ["behaviour": "fail-on-start"],
            secrets: [:]
        ).jsonValue
        queue.sync {
            peer.start()
            peer.call(ProviderMethod.startTunnel.rawValue, parameters: parameters) { result in
                outcome.set(WallClock.monotonicNanoseconds(), result)
                done.signal()
            }
        }
        let timedOut = done.wait(timeout: .now() + Self.replyTimeout) == .timedOut
        // Closing the channel makes the provider exit (its runtime ends on channel close).
        queue.sync { peer.close() }
        guard !timedOut, let (end, result) = outcome.value else { throw BenchError.failed("provider start probe: no StartTunnel reply") }
        guard case .failure(.remote(let error)) = result, error.name == ProviderErrorName.tunnelFailed.rawValue else {
            throw BenchError.failed("provider start probe: unexpected StartTunnel result \(result)")
        }
        return end - start
    }
}

/// The reply, written on the probe's queue and read after the semaphore.
private final class ProbeOutcome: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var stored: (UInt64, Result<VarlinkPeerReply, VarlinkPeerCallError>)?
    func set(_ time: UInt64, _ result: Result<VarlinkPeerReply, VarlinkPeerCallError>) { lock.withLock { stored = (time, result) } }
    var value: (UInt64, Result<VarlinkPeerReply, VarlinkPeerCallError>)? { lock.withLock { stored } }
}
