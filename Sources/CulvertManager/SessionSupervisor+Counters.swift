// SessionSupervisor+Counters: link counters of running sessions, refreshed on a timer into status
// and, while anyone watches, session_stats events.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import Dispatch
import Logging

extension SessionSupervisor {

    func updateStatsTimer() {
        let anyUp = sessions.values.contains { $0.run != nil }
        if anyUp, statsTimer == nil {
            let timer = DispatchSource.makeTimerSource(queue: queue)
            let interval = configuration.statsInterval.dispatchInterval
            timer.schedule(deadline: .now() + interval, repeating: interval)
            timer.setEventHandler { [weak self] in self?.refreshCounters() }
            statsTimer = timer
            timer.resume()
        } else if !anyUp, let timer = statsTimer {
            timer.cancel()
            statsTimer = nil
        }
    }

    func refreshCounters() {
        var changed = refreshContainment()
        // try?: counters are best effort; logged at apply time.
        guard let socket = try? routeSocket() else {
            if changed { events.statusChanged() }
            return
        }
        for name in sessions.keys.sorted() {
            guard let session = sessions[name], let run = session.run,
                session.machine.state == .connected || session.machine.state == .reasserting,
                let counters = try? socket.linkCounters(interfaceIndex: run.tun.interfaceIndex)  // try?: the link may be going away
            else { continue }
            let fresh = SessionCounters(
                rxBytes: Int64(clamping: counters.receivedBytes), rxPackets: Int64(clamping: counters.receivedPackets),
                txBytes: Int64(clamping: counters.transmittedBytes), txPackets: Int64(clamping: counters.transmittedPackets))
            guard fresh != session.info.counters else { continue }
            session.info.counters = fresh
            changed = true
            if events.hasWatchers { events.publish(EventBody(kind: .sessionStats, session: session.info)) }
        }
        if changed { events.statusChanged() }
    }

    /// Tasks, memory and refused calls of every running provider into status. True if any changed.
    func refreshContainment() -> Bool {
        var changed = false
        for session in sessions.values {
            guard let confinement = session.run?.confinement else { continue }
            let fresh = confinement.status
            guard fresh != session.info.containment else { continue }
            session.info.containment = fresh
            changed = true
        }
        return changed
    }
}
