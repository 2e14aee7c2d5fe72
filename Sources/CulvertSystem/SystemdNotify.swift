// SystemdNotify: the sd_notify(3) datagram protocol and socket activation (LISTEN_FDS),
// written here because the protocol is three lines and libsystemd would be a dependency for it.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

public enum SystemdNotify {
    /// Sends `state` (e.g. "READY=1") to $NOTIFY_SOCKET; does nothing when it is unset.
    public static func send(_ state: String, environment: [String: String]) throws(SystemError) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return }
        let bytes = Array(state.utf8)
        _ = try Syscall.withBytes(bytes) { raw throws(SystemError) in
            try Syscall.call("sendto", path: path) { CCulvert.culvert_notify_send(path, raw.baseAddress, raw.count) }
        }
    }

    /// The watchdog interval systemd expects pings at, from $WATCHDOG_USEC (and $WATCHDOG_PID).
    public static func watchdogInterval(environment: [String: String]) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], Int32(pid) != getpid() { return nil }
        return .microseconds(usec)
    }

    /// Descriptors passed by socket activation: fds 3..3+LISTEN_FDS-1 when LISTEN_PID is us.
    public static func listenDescriptors(environment: [String: String]) -> [(descriptor: Descriptor, name: String)] {
        guard let countText = environment["LISTEN_FDS"], let count = Int32(countText), count > 0, count < 1024 else {
            return []
        }
        if let pid = environment["LISTEN_PID"], Int32(pid) != getpid() { return [] }
        let names = (environment["LISTEN_FDNAMES"] ?? "").split(separator: ":", omittingEmptySubsequences: false)
        return (0..<count).map { i in
            let name = Int(i) < names.count ? String(names[Int(i)]) : "unknown"
            return (Descriptor(rawValue: 3 + i), name)
        }
    }
}
