// ManagerMetrics: culvertd's counters and gauges (issue 16, item 3), kept through swift-metrics on a
// Prometheus registry. Confined to the manager queue like the rest of ManagerService, except
// `render()`, which only reads the registry (swift-prometheus locks it), so the textfile writer and
// GetMetrics can emit from anywhere. Event-driven series (events, upgrades, connect durations) move
// as events are published; state-derived ones (TUN counters, containment, connections) are brought
// up to date from the status by `refresh` just before every render. TUN counters restart at 0 with
// every new TUN: a value below the last one seen is a restart and is added whole, so the exported
// counters only grow (and a new culvertd process, whose series start at 0, adds the current totals).

import CoreMetrics
import CulvertCore

import class Prometheus.PrometheusCollectorRegistry

final class ManagerMetrics {
    let registry = PrometheusCollectorRegistry()
    private let factory: CulvertMetricsFactory
    private let eventsPublished: Counter
    private let ringEvents: Gauge
    private let watchers: Gauge
    private let extensions: Gauge
    private let problems: Gauge
    private var byClass: [String: (connections: Gauge, buffered: Gauge)] = [:]
    private var upgrades: [String: Counter] = [:]
    /// The staged-upgrade gauge of each extension that has one, with the label values it was made with.
    private var staged: [String: (gauge: Gauge, key: String)] = [:]
    private var sessions: [String: SessionSeries] = [:]
    private var connectDurations: [String: Timer] = [:]
    /// When each profile's Connect began (the connecting transition), on the monotonic clock.
    private var connecting: [String: ContinuousClock.Instant] = [:]

    init(version: String, startTime: Double, ringCapacity: Int) {
        factory = CulvertMetricsFactory(registry: registry)
        Gauge(label: MetricName.buildInfo.rawValue, dimensions: [("version", version)], factory: factory).record(1)
        Gauge(label: MetricName.startTime.rawValue, factory: factory).record(startTime)
        Gauge(label: MetricName.eventRingCapacity.rawValue, factory: factory).record(ringCapacity)
        eventsPublished = Counter(label: MetricName.eventsPublished.rawValue, factory: factory)
        ringEvents = Gauge(label: MetricName.eventRingEvents.rawValue, factory: factory)
        watchers = Gauge(label: MetricName.watchers.rawValue, factory: factory)
        extensions = Gauge(label: MetricName.extensionsInstalled.rawValue, factory: factory)
        problems = Gauge(label: MetricName.problems.rawValue, factory: factory)
        for connectionClass in ["admin", "reader", "other"] {
            byClass[connectionClass] = (
                Gauge(label: MetricName.connections.rawValue, dimensions: [("class", connectionClass)], factory: factory),
                Gauge(label: MetricName.connectionBufferedBytes.rawValue, dimensions: [("class", connectionClass)], factory: factory)
            )
        }
    }

    /// The Prometheus text exposition format of every series.
    func render() -> [UInt8] { registry.emitToBuffer() }

    // MARK: events

    /// Called for every published event.
    func observe(_ body: EventBody, now: ContinuousClock.Instant = .now) {
        eventsPublished.increment()
        switch body.kind {
        case .sessionState:
            guard let session = body.session else { return }
            if session.state == .connecting, body.previousState != .connecting {
                connecting[session.profile] = now
            } else if session.state == .connected, let start = connecting.removeValue(forKey: session.profile) {
                let timer =
                    connectDurations[session.profile]
                    ?? Timer(
                        label: MetricName.sessionConnectDuration.rawValue, dimensions: [("profile", session.profile)], factory: factory)
                connectDurations[session.profile] = timer
                timer.recordNanoseconds(Self.nanoseconds(now - start))
            } else if session.state != .connecting {
                connecting[session.profile] = nil
            }
        case .handoverCompleted:
            upgrade(body.extensionInfo?.identifier ?? body.session?.extensionIdentifier, outcome: body.reason ?? "handover")
        case .upgradeFailed:
            upgrade(body.extensionInfo?.identifier ?? body.session?.extensionIdentifier, outcome: "failed")
        case .profileRemoved:
            if let name = body.name { forget(profile: name) }
        default:
            break
        }
    }

    private func upgrade(_ identifier: String?, outcome: String) {
        let identifier = identifier ?? "unknown"
        let key = identifier + "\u{0}" + outcome
        let counter =
            upgrades[key]
            ?? Counter(
                label: MetricName.upgrades.rawValue, dimensions: [("extension", identifier), ("outcome", outcome)], factory: factory)
        upgrades[key] = counter
        counter.increment()
    }

    // MARK: state

    /// Brings the state-derived series up to date.
    func refresh(status: ManagerStatus, ringEvents held: Int, watchers watching: Int, limits: ConnectionLimits?) {
        ringEvents.record(held)
        watchers.record(watching)
        extensions.record(status.extensions.count)
        problems.record(status.problems.count)
        if let limits {
            for (name, use) in [("admin", limits.admin), ("reader", limits.reader), ("other", limits.other)] {
                byClass[name]?.connections.record(use.connections)
                byClass[name]?.buffered.record(use.bufferedBytes)
            }
        }
        refreshStaged(status.extensions)
        let profiles = Set(status.sessions.map(\.profile))
        for name in sessions.keys where !profiles.contains(name) { forget(profile: name) }
        for session in status.sessions {
            var series = sessions[session.profile] ?? SessionSeries(profile: session.profile, factory: factory)
            series.update(session, factory: factory)
            sessions[session.profile] = series
        }
    }

    private func refreshStaged(_ extensions: [ExtensionInfo]) {
        var current: [String: (version: String, policy: String)] = [:]
        for info in extensions {
            guard let upgrade = info.staged else { continue }
            current[info.identifier] = (upgrade.version, (info.effectiveUpgradePolicy ?? info.upgradePolicy)?.rawValue ?? "now")
        }
        for (identifier, entry) in staged where current[identifier].map({ $0.version + "\u{0}" + $0.policy }) != entry.key {
            entry.gauge.destroy()
            staged[identifier] = nil
        }
        for (identifier, wanted) in current where staged[identifier] == nil {
            let gauge = Gauge(
                label: MetricName.upgradeStaged.rawValue,
                dimensions: [("extension", identifier), ("version", wanted.version), ("policy", wanted.policy)], factory: factory)
            gauge.record(1)
            staged[identifier] = (gauge, wanted.version + "\u{0}" + wanted.policy)
        }
    }

    private func forget(profile: String) {
        sessions.removeValue(forKey: profile)?.destroy()
        connectDurations.removeValue(forKey: profile)?.destroy()
        connecting[profile] = nil
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
