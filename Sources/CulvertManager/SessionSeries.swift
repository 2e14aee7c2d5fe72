// SessionSeries: one profile's series in ManagerMetrics (label `profile`), and the last values seen,
// so that counters only grow: a TUN counter below the last value is a new TUN (a reconnect) and is
// added whole.

import CoreMetrics
import CulvertCore

struct SessionSeries {
    private let profile: String
    private let up, reasserting, killSwitch: Gauge
    private let receiveBytes, transmitBytes, receivePackets, transmitPackets, restarts, deniedCalls: Counter
    private let tasks, memory: Gauge
    private var info: (gauge: Gauge, key: String)?
    private var last = SessionCounters(rxBytes: 0, rxPackets: 0, txBytes: 0, txPackets: 0)
    private var lastRestarts: Int64 = 0
    private var lastDenied: Int64 = 0
    private var lastProviderID: Int64?

    init(profile: String, factory: any MetricsFactory) {
        self.profile = profile
        let labels = [("profile", profile)]
        func counter(_ name: MetricName) -> Counter { Counter(label: name.rawValue, dimensions: labels, factory: factory) }
        func gauge(_ name: MetricName) -> Gauge { Gauge(label: name.rawValue, dimensions: labels, factory: factory) }
        up = gauge(.sessionUp)
        reasserting = gauge(.sessionReasserting)
        killSwitch = gauge(.sessionKillSwitchHeld)
        receiveBytes = counter(.sessionReceiveBytes)
        transmitBytes = counter(.sessionTransmitBytes)
        receivePackets = counter(.sessionReceivePackets)
        transmitPackets = counter(.sessionTransmitPackets)
        restarts = counter(.sessionRestarts)
        deniedCalls = counter(.sessionDeniedCalls)
        tasks = gauge(.sessionProviderTasks)
        memory = gauge(.sessionProviderMemory)
    }

    mutating func update(_ session: SessionInfo, factory: any MetricsFactory) {
        up.record(session.state == .connected ? 1 : 0)
        reasserting.record(session.state == .reasserting ? 1 : 0)
        killSwitch.record(session.killSwitch == true ? 1 : 0)
        let counters = session.counters
        receiveBytes.increment(by: Self.growth(counters.rxBytes, since: last.rxBytes))
        receivePackets.increment(by: Self.growth(counters.rxPackets, since: last.rxPackets))
        transmitBytes.increment(by: Self.growth(counters.txBytes, since: last.txBytes))
        transmitPackets.increment(by: Self.growth(counters.txPackets, since: last.txPackets))
        last = counters
        restarts.increment(by: Self.growth(session.restarts, since: lastRestarts))
        lastRestarts = session.restarts
        // Refused calls are counted per provider process: a new pid starts from 0.
        let denied = session.containment?.deniedCalls ?? 0
        deniedCalls.increment(by: session.pid == lastProviderID ? Self.growth(denied, since: lastDenied) : max(0, denied))
        lastDenied = denied
        lastProviderID = session.pid
        tasks.record(session.containment?.tasks ?? 0)
        memory.record(session.containment?.memoryBytes ?? 0)
        let key = session.extensionIdentifier + "\u{0}" + session.extensionVersion
        if info?.key != key {
            info?.gauge.destroy()
            let gauge = Gauge(
                label: MetricName.sessionInfo.rawValue,
                dimensions: [("profile", profile), ("extension", session.extensionIdentifier), ("version", session.extensionVersion)],
                factory: factory)
            gauge.record(1)
            info = (gauge, key)
        }
    }

    /// How much a monotonic counter grew: `value - previous`, or all of `value` after a restart.
    static func growth(_ value: Int64, since previous: Int64) -> Int64 {
        value >= previous ? value - previous : max(0, value)
    }

    func destroy() {
        for counter in [receiveBytes, transmitBytes, receivePackets, transmitPackets, restarts, deniedCalls] { counter.destroy() }
        for gauge in [up, reasserting, killSwitch, tasks, memory] { gauge.destroy() }
        info?.gauge.destroy()
    }
}
