// ManagerService+Metrics: GetMetrics and the node_exporter textfile (issue 16, item 3). Both render
// the same registry after bringing the state-derived series up to date on the queue; the textfile
// is written off the queue (FileSystem.writeAtomically: a temporary name node_exporter ignores,
// fsync, rename), one write at a time, every stats interval.

import CulvertCore
import CulvertSystem
import Dispatch
import Logging

extension ManagerService {
    /// The file node_exporter's textfile collector reads (it reads `*.prom` only, so the temporary
    /// files of an atomic write are never half-read).
    static let metricsTextfileName = "culvert.prom"

    /// Every series in the Prometheus text format, current as of now.
    func renderMetrics() -> [UInt8] {
        dispatchPrecondition(condition: .onQueue(queue))
        let log = events
        metrics.refresh(
            status: status, ringEvents: Int(log.lastSeq - log.oldestSeq + 1), watchers: subscribers.count, limits: connectionLimits)
        return metrics.render()
    }

    func startMetricsTextfile() {
        guard let directory = configuration.metricsTextfileDirectory, metricsTimer == nil else { return }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = configuration.statsInterval.dispatchInterval
        timer.schedule(deadline: .now(), repeating: interval)
        timer.setEventHandler { [weak self] in self?.writeMetricsTextfile(into: directory) }
        metricsTimer = timer
        timer.resume()
    }

    private func writeMetricsTextfile(into directory: String) {
        guard !metricsWriteInFlight else { return }  // a slow disk: skip a turn rather than queue writes
        metricsWriteInFlight = true
        let text = renderMetrics()
        let path = directory + "/" + Self.metricsTextfileName
        DispatchQueue.global(qos: .utility).async { [weak self] in
            let result: SystemError?
            do throws(SystemError) {
                try FileSystem.writeAtomically(text, to: path, mode: 0o644)
                result = nil
            } catch {
                result = error
            }
            self?.queue.async { [weak self] in self?.metricsWritten(result) }
        }
    }

    private func metricsWritten(_ error: SystemError?) {
        metricsWriteInFlight = false
        let description = error.map(\.description)
        // Logged when it changes, not every interval: a missing directory would fill the journal.
        guard description != metricsLastError else { return }
        metricsLastError = description
        if let description {
            logger.warning("writing the metrics textfile: \(description)")
        } else {
            logger.info("metrics textfile written to \(configuration.metricsTextfileDirectory ?? "-")/\(Self.metricsTextfileName)")
        }
    }
}
