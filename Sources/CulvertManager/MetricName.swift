// MetricName: every Prometheus series culvertd exports, with its help text — the one list
// (docs/ARCHITECTURE.md, "Metrics"). Names follow Prometheus conventions: a `culvert_` prefix,
// base units (bytes, seconds), `_total` on counters; labels never carry a secret, an option value
// or a path (only profile names, extension identifiers, outcomes and connection classes).

/// One exported series family.
enum MetricName: String, CaseIterable, Sendable {
    // The daemon.
    case buildInfo = "culvert_build_info"
    case startTime = "culvert_daemon_start_time_seconds"
    case eventsPublished = "culvert_events_published_total"
    case eventRingEvents = "culvert_event_ring_events"
    case eventRingCapacity = "culvert_event_ring_capacity_events"
    case watchers = "culvert_watchers"
    case connections = "culvert_connections"
    case connectionBufferedBytes = "culvert_connection_buffered_bytes"
    case extensionsInstalled = "culvert_extensions"
    case problems = "culvert_problems"
    case upgrades = "culvert_upgrades_total"
    case upgradeStaged = "culvert_extension_upgrade_staged"
    // Sessions (label: profile; culvert_session_info adds extension and version).
    case sessionInfo = "culvert_session_info"
    case sessionUp = "culvert_session_up"
    case sessionReasserting = "culvert_session_reasserting"
    case sessionKillSwitchHeld = "culvert_session_kill_switch_held"
    case sessionReceiveBytes = "culvert_session_receive_bytes_total"
    case sessionTransmitBytes = "culvert_session_transmit_bytes_total"
    case sessionReceivePackets = "culvert_session_receive_packets_total"
    case sessionTransmitPackets = "culvert_session_transmit_packets_total"
    case sessionRestarts = "culvert_session_restarts_total"
    case sessionConnectDuration = "culvert_session_connect_duration_seconds"
    case sessionProviderTasks = "culvert_session_provider_tasks"
    case sessionProviderMemory = "culvert_session_provider_memory_bytes"
    case sessionDeniedCalls = "culvert_session_denied_calls_total"

    var help: String {
        switch self {
        case .buildInfo: return "culvertd's version, as a label; the value is always 1."
        case .startTime: return "When this culvertd process started, in seconds since the Unix epoch (a re-exec starts a new process)."
        case .eventsPublished: return "Events published on the status channel since this process started."
        case .eventRingEvents: return "Events held in the replay ring now."
        case .eventRingCapacity: return "How many events the replay ring holds at most."
        case .watchers: return "Connections following the status channel (Watch) now."
        case .connections: return "Open control connections by class (admin, reader, other)."
        case .connectionBufferedBytes: return "Bytes buffered for control connections by class (unfinished messages and queued output)."
        case .extensionsInstalled: return "Installed extensions."
        case .problems: return "Problems culvertd reports in its status (set-aside files, unusable extensions)."
        case .upgrades: return "Extension upgrades of running sessions by outcome (handover, restart, failed)."
        case .sessionInfo: return "The extension and version running the profile's session, as labels; the value is always 1."
        case .upgradeStaged:
            return "1 while a staged upgrade of the extension waits for its policy (labels: extension, staged version, policy)."
        case .sessionReasserting: return "1 while the session's provider reports it is re-establishing its tunnel (reasserting), else 0."
        case .sessionKillSwitchHeld: return "1 while the profile's kill switch holds (from Connect until an explicit Disconnect), else 0."
        case .sessionUp: return "1 while the profile's session is connected, else 0."
        case .sessionReceiveBytes: return "Bytes received on the session's TUN (from the provider into the host)."
        case .sessionTransmitBytes: return "Bytes transmitted on the session's TUN (from the host to the provider)."
        case .sessionReceivePackets: return "Packets received on the session's TUN."
        case .sessionTransmitPackets: return "Packets transmitted on the session's TUN."
        case .sessionRestarts: return "Provider restarts of the session (always-on backoff)."
        case .sessionConnectDuration: return "From Connect to connected, including the provider's start, in seconds."
        case .sessionProviderTasks: return "Tasks in the session provider's cgroup."
        case .sessionProviderMemory: return "Memory charged to the session provider's cgroup, in bytes."
        case .sessionDeniedCalls: return "System calls of the session's provider refused by its seccomp filter."
        }
    }

    /// Buckets of the connect-duration histogram: a provider start takes tens of milliseconds, a
    /// slow one seconds, and the start timeout bounds it.
    static let connectDurationBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]
}
