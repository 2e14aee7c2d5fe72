// WallClock: timestamps for events and file names.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

public enum WallClock {
    /// Now as RFC 3339 in UTC with milliseconds, e.g. `2026-11-27T17:45:55.123Z`.
    public static func rfc3339Now() -> String { rfc3339(after: .zero) }

    /// The time `interval` from now, as `rfc3339Now` formats it.
    public static func rfc3339(after interval: Duration) -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        let (extraSeconds, attoseconds) = interval.components
        var nanoseconds = Int64(spec.tv_nsec) + attoseconds / 1_000_000_000
        var seconds = spec.tv_sec + Int(extraSeconds) + Int(nanoseconds / 1_000_000_000)
        nanoseconds %= 1_000_000_000
        spec.tv_nsec = Int(nanoseconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let millis = Int32(spec.tv_nsec / 1_000_000)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(millis, 3))Z"
    }

    /// Now as seconds since the Unix epoch (CLOCK_REALTIME).
    public static func unixSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// Monotonic time in nanoseconds, for measuring intervals.
    public static func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// 128 random bits as 32 hex digits (getrandom), for epochs and other identifiers.
    public static func randomIdentifier() -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { culvert_getrandom($0.baseAddress! + filled, $0.count - filled) }  // non-empty buffer
            if n > 0 { filled += n }
        }
        return bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

public enum ResourceLimits {
    /// Raises the soft descriptor limit to the hard one: the daemon holds one per client.
    public static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)  // best effort: the default still works for small loads
    }
}
