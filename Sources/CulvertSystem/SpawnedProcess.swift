// SpawnedProcess: a running provider, addressed through its pidfd so waiting and signalling can never
// hit a recycled pid, with its output pipe and (when filtered) its seccomp listener.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

/// How a process ended.
public enum ProcessExit: Sendable, Hashable, CustomStringConvertible {
    /// It called exit with this code.
    case exited(Int32)
    /// A signal (e.g. SIGKILL = 9) ended it.
    case signaled(Int32)

    public var description: String {
        switch self {
        case .exited(let code): return "exited with code \(code)"
        case .signaled(let signal): return "killed by signal \(signal)"
        }
    }
}

/// Whether the output pipe still has a writer.
public enum ProcessOutputState: Sendable, Hashable {
    /// More output may come.
    case open
    /// Every writer has closed it (the process and anything it started with that stdout are gone).
    case endOfFile
}

/// A started provider. A value type: whoever spawned it calls `close` (after waiting for it, or
/// deliberately leaving it running: closing does not stop the process).
public struct SpawnedProcess: Sendable, Hashable {
    /// Most bytes `readOutput` takes from the pipe in one call, so one chatty process cannot hog a caller.
    public static let maximumBytesPerRead = 64 * 1024
    /// Bytes read from the pipe per read(2).
    static let readChunkBytes = 4096

    public let processID: Int32
    /// The pidfd (close-on-exec), for `poll` (readable once the process has exited), `waitid` and signals.
    public let processDescriptor: Descriptor
    /// Read end of the pipe carrying the process's stdout and stderr (close-on-exec, non-blocking).
    public let output: Descriptor
    /// The seccomp filter's notification listener (close-on-exec), when spawned with one: hand it to a
    /// `SeccompNotifier`. The provider itself never holds it.
    public let seccompListener: Descriptor?
    /// How the process entered its cgroup2 directory.
    public let cgroupPlacement: CgroupJoin

    /// Takes hold of a running process that is not our child (a provider a previous culvertd
    /// started), with `output` as the read end of the pipe it now writes to. Its exit can be
    /// observed (the pidfd polls readable) and it can be signalled, but its exit status goes to its
    /// parent: `exitIfEnded` then throws ECHILD. The corresponding C function is `pidfd_open`.
    public static func adopt(processID: Int32, output: Descriptor) throws(SystemError) -> SpawnedProcess {
        let pidfd = try Syscall.call("pidfd_open") { culvert_pidfd_open(processID) }
        try output.setNonblocking(true)
        return SpawnedProcess(processID: processID, processDescriptor: Descriptor(rawValue: pidfd), output: output)
    }

    /// The kernel's start time of process `pid` in clock ticks since boot (field 22 of
    /// /proc/PID/stat): with the pid it names one process for ever, so a recycled pid is told apart.
    public static func startTime(of pid: Int32) -> UInt64? {
        // try?: a vanished process has no start time.
        guard let bytes = try? FileSystem.readFile("/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        // The command name (field 2) may contain spaces and parentheses: fields resume after the last ")".
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state), so field 22 is fields[19].
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    /// The executable process `pid` runs, as /proc/PID/exe names it.
    public static func executablePath(of pid: Int32) -> String? {
        try? FileSystem.symbolicLinkTarget("/proc/\(pid)/exe")  // try?: gone or not ours to read: unknown
    }

    public init(
        processID: Int32, processDescriptor: Descriptor, output: Descriptor, seccompListener: Descriptor? = nil,
        cgroupPlacement: CgroupJoin = .none
    ) {
        self.processID = processID
        self.processDescriptor = processDescriptor
        self.output = output
        self.seccompListener = seccompListener
        self.cgroupPlacement = cgroupPlacement
    }

    /// Waits up to `timeout` for the process to end and reaps it. Returns nil if it is still running.
    /// After it has returned an exit once, the process is gone and further calls throw ECHILD.
    /// The corresponding C functions are `poll` on the pidfd and `waitid(P_PIDFD)`.
    public func waitForExit(timeout: Duration) throws(SystemError) -> ProcessExit? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            if let exit = try exitIfEnded() { return exit }
            let remaining = Self.milliseconds(clock.now.duration(to: deadline))
            if remaining <= 0 { return nil }
            _ = try processDescriptor.waitReadable(timeoutMilliseconds: Int32(clamping: remaining))
        }
    }

    /// Reaps the process if it has ended; nil if it is still running. Does not block.
    public func exitIfEnded() throws(SystemError) -> ProcessExit? {
        var how: Int32 = 0
        var value: Int32 = 0
        _ = try Syscall.call("waitid") { culvert_pidfd_wait(processDescriptor.rawValue, 1, &how, &value) }
        switch how {
        case 0: return nil
        case 1: return .exited(value)
        default: return .signaled(value)
        }
    }

    /// Sends SIGTERM. Returns false if the process has already been reaped.
    @discardableResult
    public func terminate() throws(SystemError) -> Bool { try signal(SIGTERM) }

    /// Sends SIGKILL. Returns false if the process has already been reaped.
    @discardableResult
    public func kill() throws(SystemError) -> Bool { try signal(SIGKILL) }

    /// Sends `number` through the pidfd. Returns false if the process has already been reaped (ESRCH).
    /// The corresponding C function is `pidfd_send_signal`.
    @discardableResult
    public func signal(_ number: Int32) throws(SystemError) -> Bool {
        do {
            _ = try Syscall.call("pidfd_send_signal") { culvert_pidfd_send_signal(processDescriptor.rawValue, number) }
            return true
        } catch  where error.errno == ESRCH {
            return false
        }
    }

    /// Moves whatever output is waiting (at most `maximumBytesPerRead`) into `log` without blocking.
    /// At end of file the log's unterminated last line is completed.
    public func readOutput(into log: inout ProcessLog) throws(SystemError) -> ProcessOutputState {
        var taken = 0
        var chunk: [UInt8] = []
        while taken < Self.maximumBytesPerRead {
            chunk.removeAll(keepingCapacity: true)
            let n: Int
            do {
                n = try output.read(appendingTo: &chunk, maximum: Self.readChunkBytes)
            } catch  where error.isWouldBlock {
                return .open
            }
            if n == 0 {
                log.finish()
                return .endOfFile
            }
            log.append(chunk)
            taken += n
        }
        return .open
    }

    /// Reads output into `log` until end of file or until `timeout` has passed.
    public func collectOutput(into log: inout ProcessLog, timeout: Duration) throws(SystemError) -> ProcessOutputState {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            if try readOutput(into: &log) == .endOfFile { return .endOfFile }
            let remaining = Self.milliseconds(clock.now.duration(to: deadline))
            if remaining <= 0 { return .open }
            _ = try output.waitReadable(timeoutMilliseconds: Int32(clamping: remaining))
        }
    }

    /// Closes the pidfd, the output pipe and the seccomp listener (a `SeccompNotifier` keeps its own
    /// duplicate). The process itself is not affected.
    public func close() {
        processDescriptor.close()
        output.close()
        seccompListener?.close()
    }

    /// Whole milliseconds in `duration`, rounded up (so a short positive wait is never 0).
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        let perMillisecond: Int64 = 1_000_000_000_000_000
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return Int64.max }
        return product + (attoseconds + perMillisecond - 1) / perMillisecond
    }
}
