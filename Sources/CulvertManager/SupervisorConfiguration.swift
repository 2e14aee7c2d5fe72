// SupervisorConfiguration: how culvertd runs sessions — the culvertd flags the supervisor, the
// launcher and DNS read — and the Dispatch form of a Duration they all use for deadlines.

import CulvertCore
import CulvertSystem
import Dispatch

/// How sessions are run; culvertd flags.
struct SupervisorConfiguration: Sendable {
    /// The uids (and equal gids) providers run as, one per running provider (`--provider-uids`).
    var providerIdentities: ClosedRange<UInt32> = ProviderLimits.defaultIdentities
    /// Where session cgroups are made: a path in the cgroup2 hierarchy (`--cgroup-root`); nil: a
    /// default under culvertd's own cgroup.
    var cgroupRoot: String?
    /// Tasks and memory per session (`--provider-tasks`, `--provider-memory` and their maxima).
    var providerLimits = ProviderLimits()
    var timing = SessionTiming()
    /// How often link counters are read while sessions are up.
    var statsInterval: Duration = .seconds(2)
    /// Test hook: fail this step of every settings transaction (rolls back). Nil in production.
    var injectSettingsFailureAtStep: Int?
    /// TUN interface name pattern; the kernel replaces %d.
    var interfaceNamePattern = "cvt%d"
    /// The resolv.conf culvertd manages when systemd-resolved does not run.
    var resolvConfPath = "/etc/resolv.conf"
    var dnsBackend = DNSBackendChoice.auto
    /// Where session records and rendezvous sockets live (the daemon's runtime directory).
    var runtimeDirectory = "/run/culvert"
    /// How long a provider whose culvertd died keeps its tunnel, waiting to be re-adopted.
    var orphanTimeout: Duration = .seconds(600)
}

/// How tunnel DNS is applied (`--dns`).
public enum DNSBackendChoice: String, Sendable, CaseIterable {
    /// systemd-resolved when it runs and culvertd shares its network namespace, else the file.
    case auto
    case resolved
    case file

    func backend(resolvConfPath: String) -> DNSBackend {
        switch self {
        case .file: return .file(path: resolvConfPath)
        case .resolved:
            let detected = DNSBackend.detect(resolvConfPath: resolvConfPath)
            if case .resolved = detected { return detected }
            return .resolved(resolvectl: DNSBackend.resolvectlLocations.first ?? "/usr/bin/resolvectl")
        case .auto:
            // resolved manages the links of its own namespace: a culvertd in another one (a
            // container, a test namespace) must not hand it interfaces it cannot see.
            guard NetworkNamespace.isSameAsInit == true else { return .file(path: resolvConfPath) }
            return DNSBackend.detect(resolvConfPath: resolvConfPath)
        }
    }
}

extension Duration {
    /// For Dispatch deadlines.
    var dispatchInterval: DispatchTimeInterval {
        let (seconds, attoseconds) = components
        return .nanoseconds(Int(clamping: seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }
}
