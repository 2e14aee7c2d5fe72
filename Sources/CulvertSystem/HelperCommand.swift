// HelperCommand: runs a short-lived system tool (resolvectl) as culvertd itself, bounded in time,
// and reports how it ended with its stderr. Unlike ProviderSpawn the child keeps root: the tools
// it exists for change system configuration. The spawn is `culvert_spawn_helper` in the C shim
// (posix_spawn, new session, default signals, fds 0–2 only, exactly the environment given here).

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

/// Why a helper command did not succeed. No child is left behind in any case.
public enum HelperCommandError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request itself is unacceptable (relative path, a NUL byte, too many arguments).
    case invalidRequest(String)
    /// The executable could not be started (missing, not executable, or the spawn failed).
    case spawnFailed(path: String, error: SystemError)
    /// It ran but ended with a non-zero exit code or a signal; `stderr` holds its last lines.
    case failed(path: String, exit: ProcessExit, stderr: [String])
    /// It was still running after `timeout` and was killed.
    case timedOut(path: String, timeout: Duration, stderr: [String])
    /// Waiting for it or reading its stderr failed.
    case waitFailed(path: String, error: SystemError)

    public var description: String {
        switch self {
        case .invalidRequest(let reason): return "invalid helper command: \(reason)"
        case .spawnFailed(let path, let error): return "\(path) could not be started: \(error)"
        case .failed(let path, let exit, let stderr):
            return "\(path) \(exit)\(stderr.isEmpty ? "" : ": " + stderr.joined(separator: " / "))"
        case .timedOut(let path, let timeout, _): return "\(path) did not finish within \(timeout) and was killed"
        case .waitFailed(let path, let error): return "waiting for \(path): \(error)"
        }
    }
}

/// One invocation of a system tool: absolute executable, arguments, a fixed clean environment.
public struct HelperCommand: Sendable, Hashable {
    /// Most arguments after argv[0].
    public static let maximumArguments = 256
    /// The whole environment a helper sees: a fixed PATH and the C locale, so its messages are stable.
    public static let environment = ["PATH=/usr/bin:/bin", "LC_ALL=C"]
    /// stderr lines kept for the error.
    public static let maximumErrorLines = 16
    /// After SIGKILL, how long to wait for the kernel to report the child gone before giving up on reaping.
    static let reapTimeout: Duration = .seconds(2)

    /// Absolute path of the executable; also passed as argv[0].
    public var executablePath: String
    /// argv[1...].
    public var arguments: [String]

    public init(executablePath: String, arguments: [String]) {
        self.executablePath = executablePath
        self.arguments = arguments
    }

    /// Runs the command to completion, killing it if it takes longer than `timeout`. Blocks the
    /// calling thread for at most `timeout` (plus the reap). Returns only if it exited with code 0.
    /// The corresponding C functions are `posix_spawn`, `pidfd_open`, `poll` and `waitid`.
    public func run(timeout: Duration) throws(HelperCommandError) {
        try validate()
        let argv = ([executablePath] + arguments).map { strdup($0) } + [nil]
        let envp = Self.environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        guard !argv.dropLast().contains(nil), !envp.dropLast().contains(nil) else {
            throw .spawnFailed(path: executablePath, error: SystemError(call: "strdup", errno: ENOMEM))
        }
        var pid: Int32 = 0
        var pidfd: Int32 = -1
        var errorOutput: Int32 = -1
        let rc = culvert_spawn_helper(executablePath, argv, envp, &pid, &pidfd, &errorOutput)
        guard rc == 0 else {
            throw .spawnFailed(path: executablePath, error: SystemError(call: "posix_spawn", errno: rc, path: executablePath))
        }
        let process = SpawnedProcess(
            processID: pid, processDescriptor: Descriptor(rawValue: pidfd), output: Descriptor(rawValue: errorOutput))
        defer { process.close() }
        try finish(process, timeout: timeout)
    }

    private func finish(_ process: SpawnedProcess, timeout: Duration) throws(HelperCommandError) {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var log = ProcessLog(maximumLines: Self.maximumErrorLines)
        let exit: ProcessExit?
        do {
            // End of file on stderr usually means the process is gone; the exit wait covers a tool
            // that closed stderr early or left a child holding it.
            _ = try process.collectOutput(into: &log, timeout: timeout)
            let remaining = clock.now.duration(to: deadline)
            exit = try process.waitForExit(timeout: remaining > .zero ? remaining : .zero)
        } catch {
            kill(process)
            throw .waitFailed(path: executablePath, error: error)
        }
        guard let exit else {
            kill(process)
            _ = try? process.readOutput(into: &log)  // best effort: whatever it wrote before the kill
            log.finish()
            throw .timedOut(path: executablePath, timeout: timeout, stderr: log.lines)
        }
        log.finish()
        guard exit == .exited(0) else { throw .failed(path: executablePath, exit: exit, stderr: log.lines) }
    }

    /// SIGKILL and reap, so no zombie outlives the call.
    private func kill(_ process: SpawnedProcess) {
        _ = try? process.kill()  // ESRCH-free by construction (pidfd); any other error leaves nothing better to do
        _ = try? process.waitForExit(timeout: Self.reapTimeout)  // as above: the error being thrown matters more
    }

    private func validate() throws(HelperCommandError) {
        guard executablePath.hasPrefix("/") else { throw .invalidRequest("executable path \(executablePath) is not absolute") }
        guard arguments.count <= Self.maximumArguments else { throw .invalidRequest("more than \(Self.maximumArguments) arguments") }
        for string in [executablePath] + arguments where string.utf8.contains(0) {
            throw .invalidRequest("a NUL byte in \(string.debugDescription)")
        }
    }
}
