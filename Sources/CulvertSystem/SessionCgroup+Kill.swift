// SessionCgroup+Kill: ending everything in a session's cgroup, and learning when it is empty.
// `cgroup.kill` (Linux 5.14) kills the whole group at once, forks in flight included; without it
// the group is frozen (cgroup2 cgroup.freeze or the v1 freezer) so nothing forks meanwhile, every
// listed pid is opened as a pidfd, checked still to be a member (the pid may have been reused) and
// sent SIGKILL, the group thawed — and that repeated, a bounded number of times, until it is empty.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

/// A descriptor that becomes readable whenever a session cgroup's cgroup2 `cgroup.events` changes
/// (an inotify IN_MODIFY watch; non-blocking, close-on-exec), for a Dispatch read source: on
/// each wake-up call `drain`, then `SessionCgroup.isPopulated`. The owner closes it.
public struct CgroupEmptinessWatch: Sendable {
    public let descriptor: Descriptor

    /// Reads the queued notifications so the descriptor stops polling readable.
    public func drain() {
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            // try?: EAGAIN ends the drain, and any other error leaves nothing more to read.
            let n = try? Syscall.withMutableBytes(&scratch) { raw throws(SystemError) in try descriptor.read(into: raw) }
            guard let n, n > 0 else { return }
        }
    }

    public func close() { descriptor.close() }
}

extension SessionCgroup {
    /// Most freeze–signal–thaw rounds `kill` makes without cgroup.kill.
    public static let maximumKillRounds = 16
    /// How long one round waits for the signalled processes to end.
    static let killRoundWait: Duration = .milliseconds(200)
    /// How long freezing may take before the round goes on unfrozen.
    static let freezeWait: Duration = .milliseconds(500)
    /// Pause between checks where the kernel offers no notification (v1 only, freezer state).
    static let checkInterval: Duration = .milliseconds(5)

    /// Kills every process in the cgroup. Returns once they have been sent SIGKILL (with
    /// cgroup.kill, at once); `waitUntilEmpty` or the emptiness watch tell when they are gone.
    public func kill() throws(CgroupError) {
        if let path = directories[.unified], CgroupFiles.exists(path, "cgroup.kill") {
            try write(.unified, "cgroup.kill", "1")
            // A v1 cgroup holds only what was placed in cgroup2 too; make sure of it anyway, once.
            if hierarchies.count > 1 { try signalMembers().forEach { $0.close() } }
            return
        }
        try killBySignals()
    }

    /// The fallback without cgroup.kill (internal so tests can run it where cgroup.kill exists).
    func killBySignals() throws(CgroupError) {
        for _ in 0..<Self.maximumKillRounds {
            let frozen = try freeze(true)
            let signalled: [Descriptor]
            do {
                signalled = try signalMembers()
            } catch {
                if frozen { _ = try? freeze(false) }  // try?: the signalling error is the one to report
                throw error
            }
            if frozen { _ = try freeze(false) }
            defer { signalled.forEach { $0.close() } }
            if signalled.isEmpty {
                if try !isPopulated() { return }
            }
            waitForExits(signalled, timeout: Self.killRoundWait)
        }
    }

    /// Sends SIGKILL to every member listed in any hierarchy; returns their pidfds (caller closes).
    private func signalMembers() throws(CgroupError) -> [Descriptor] {
        var signalled: [Descriptor] = []
        for pid in try processIDs() {
            let pidfd: Descriptor
            do {
                pidfd = Descriptor(rawValue: try Syscall.call("pidfd_open") { culvert_pidfd_open(pid) })
            } catch {
                continue  // ESRCH: already gone
            }
            // Only after the pidfd pins the process does its membership prove it is ours.
            guard isMember(pid) else {
                pidfd.close()
                continue
            }
            do {
                _ = try Syscall.call("pidfd_send_signal") { culvert_pidfd_send_signal(pidfd.rawValue, SIGKILL) }
            } catch {
                // ESRCH: it ended meanwhile, which is the aim; anything else shows in the next round.
            }
            signalled.append(pidfd)
        }
        return signalled
    }

    /// Whether /proc/PID/cgroup puts `pid` in this session's cgroup in some hierarchy.
    func isMember(_ pid: Int32) -> Bool {
        // try?: a process whose /proc entry is gone has ended: not a member to signal.
        guard let bytes = try? FileSystem.readFile("/proc/\(pid)/cgroup") else { return false }
        let memberships = CgroupMountInfo.parseMemberships(String(decoding: bytes, as: UTF8.self))
        for (kind, path) in cgroupPaths {
            switch kind {
            case .unified: if memberships.unified == path { return true }
            case .v1(let controller): if memberships.v1[controller.rawValue] == path { return true }
            }
        }
        return false
    }

    /// Freezes (or thaws) the group with cgroup2's cgroup.freeze or the v1 freezer; false if neither exists.
    private func freeze(_ on: Bool) throws(CgroupError) -> Bool {
        if has(.unified, "cgroup.freeze") {
            try write(.unified, "cgroup.freeze", on ? "1" : "0")
            if on {
                // try?: a cgroup whose events cannot be read is gone, which is as good as frozen.
                waitUntil(Self.freezeWait) { (try? read(.unified, "cgroup.events"))?.contains("frozen 1") ?? true }
            }
            return true
        }
        if directories[.v1(.freezer)] != nil {
            try write(.v1(.freezer), "freezer.state", on ? "FROZEN" : "THAWED")
            if on {
                // try?: as above.
                waitUntil(Self.freezeWait) { (try? read(.v1(.freezer), "freezer.state"))?.hasPrefix("FROZEN") ?? true }
            }
            return true
        }
        return false
    }

    /// Waits until every pidfd polls readable (its process ended) or `timeout` passes.
    private func waitForExits(_ pidfds: [Descriptor], timeout: Duration) {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var pending = pidfds
        while !pending.isEmpty && clock.now < deadline {
            let batch = Array(pending.prefix(ReadyDescriptors.maximumWatchedDescriptors))
            // try?: a failed poll ends the wait early; the caller's next round looks again.
            guard let ready = try? Descriptor.waitReadable(batch, timeout: clock.now.duration(to: deadline)) else { return }
            if ready.isEmpty { return }
            let done = Set(batch.indices.filter(ready.contains).map { batch[$0] })
            pending.removeAll(where: done.contains)
        }
    }

    /// Calls `condition` every `checkInterval` until it holds or `timeout` passes.
    private func waitUntil(_ timeout: Duration, _ condition: () -> Bool) {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while !condition() && clock.now < deadline { sleepBriefly(Self.checkInterval) }
    }

    private func sleepBriefly(_ duration: Duration) {
        let microseconds = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        _ = usleep(useconds_t(clamping: microseconds))  // an early wake-up (EINTR) only shortens one check
    }

    /// Blocks until the cgroup is empty or `timeout` passes; true if empty. With cgroup2, sleeps in
    /// poll(POLLPRI) on `cgroup.events` (woken by each change); v1 alone is checked every `checkInterval`.
    public func waitUntilEmpty(timeout: Duration) throws(CgroupError) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        if let path = directories[.unified], FileSystem.exists(path) {
            let events: Descriptor
            do {
                let handle = try DirectoryHandle.open(path: path)
                defer { handle.close() }
                events = try handle.openFileForReading(named: "cgroup.events")
            } catch {
                throw CgroupError.from(error, hierarchy: .unified, path: path + "/cgroup.events")
            }
            defer { events.close() }
            while true {
                let text: String
                do {
                    _ = try Syscall.call("lseek") { lseek(events.rawValue, 0, SEEK_SET) }
                    text = try CgroupFiles.readAll(events, path: path + "/cgroup.events")
                } catch {
                    throw CgroupError.from(error, hierarchy: .unified, path: path + "/cgroup.events")
                }
                if !text.contains("populated 1") { break }
                let remaining = clock.now.duration(to: deadline)
                if remaining <= .zero { return false }
                var pfd = pollfd(fd: events.rawValue, events: Int16(POLLPRI), revents: 0)
                let milliseconds = Int32(
                    clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1)
                do {
                    _ = try Syscall.call("poll") { poll(&pfd, 1, milliseconds) }
                } catch {
                    throw CgroupError.from(error, hierarchy: .unified, path: path + "/cgroup.events")
                }
            }
        }
        while try isPopulated() {
            if clock.now >= deadline { return false }
            sleepBriefly(Self.checkInterval)
        }
        return true
    }

    /// A watch on cgroup2's `cgroup.events` for a Dispatch read source; nil without cgroup2 (the
    /// caller then checks `isPopulated` on a timer). The corresponding C functions are
    /// `inotify_init1` and `inotify_add_watch`.
    public func emptinessWatch() throws(CgroupError) -> CgroupEmptinessWatch? {
        guard let path = directories[.unified] else { return nil }
        let file = path + "/cgroup.events"
        do throws(SystemError) {
            let fd = try Syscall.call("inotify_init1") { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
            let descriptor = Descriptor(rawValue: fd)
            do {
                _ = try Syscall.call("inotify_add_watch", path: file) {
                    inotify_add_watch(fd, file, UInt32(IN_MODIFY) | UInt32(IN_DONT_FOLLOW))
                }
            } catch {
                descriptor.close()
                throw error
            }
            return CgroupEmptinessWatch(descriptor: descriptor)
        } catch {
            throw CgroupError.from(error, hierarchy: .unified, path: file)
        }
    }
}
