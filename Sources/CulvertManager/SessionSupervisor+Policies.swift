// SessionSupervisor+Policies: what upgrade policies (ManagerService+Policies) need to know about
// the sessions of one extension — whether any runs it, and a sample of their traffic.

import CulvertCore
import CulvertSystem
import Dispatch

extension SessionSupervisor {
    /// Whether a session runs (or is starting or stopping) a provider of `identifier`: while one
    /// does, switching versions would disrupt it (on-disconnect waits for none).
    func runsExtension(_ identifier: String) -> Bool {
        sessions.values.contains {
            $0.info.extensionIdentifier == identifier
                && ($0.run != nil || [.connecting, .connected, .reasserting, .disconnecting].contains($0.machine.state))
        }
    }

    /// The packet counters (received, transmitted) of each running session of `identifier`, read
    /// from the kernel now, by session id and provider pid (a new run is a new key, so it counts
    /// as traffic). A session whose counters cannot be read counts as busy: a value that differs each time.
    func trafficSample(of identifier: String) -> TrafficSample {
        // try?: without a route socket no counter can be read; every session then counts as busy.
        let socket = try? routeSocket()
        var packets: [String: [Int64]] = [:]
        for session in sessions.values where session.info.extensionIdentifier == identifier {
            guard let run = session.run else { continue }
            let key = "\(session.info.id)/\(run.process.processID)"
            // try?: a link going away has no counters; the unreadable marker below keeps it busy.
            guard let counters = try? socket?.linkCounters(interfaceIndex: run.tun.interfaceIndex) else {
                packets[key] = [-1, Int64(clamping: DispatchTime.now().uptimeNanoseconds)]
                continue
            }
            packets[key] = [Int64(clamping: counters.receivedPackets), Int64(clamping: counters.transmittedPackets)]
        }
        return TrafficSample(packets: packets)
    }
}
