// DaemonProcess: a real culvertd with private directories, for integration tests and benchmarks.

import CulvertSystem
import CulvertVarlink
import CulvertWire
import Foundation

public enum DaemonProcessError: Error, CustomStringConvertible {
    case didNotStart(log: String)
    public var description: String {
        switch self {
        case .didNotStart(let log): return "culvertd did not start serving; its log:\n\(log)"
        }
    }
}

/// One culvertd process over `root/state`, `root/run`, `root/etc`. Restartable on the same
/// directories (to test crashes); killed in deinit so a failing test leaves nothing running.
public final class DaemonProcess: @unchecked Sendable {  // used from one test thread at a time
    /// How long a start may take before the test fails.
    public static let startDeadline: TimeInterval = 20

    public let root: String
    public let extraArguments: [String]
    public private(set) var process: Process?
    private var logIndex = 0

    public var stateDirectory: String { root + "/state" }
    public var runtimeDirectory: String { root + "/run" }
    public var configDirectory: String { root + "/etc" }
    public var socketPath: String { runtimeDirectory + "/io.culvert.Manager" }
    public var logPath: String { root + "/culvertd.\(logIndex).log" }
    public var pid: Int32 { process?.processIdentifier ?? 0 }

    /// The network namespace (`ip netns` name) culvertd runs in; nil for the caller's.
    public let namespace: String?
    /// The culvertd binary: this build's unless another is named (the version-skew tests run an older one).
    public let executable: String

    /// When set (a tmpfs `size=` value such as "512k"), culvertd runs in a private mount
    /// namespace (`unshare --mount --propagation private`) with a tmpfs of that size mounted on
    /// its state directory: a small disk to fill. The mount is invisible outside; the test reaches
    /// it through `stateView`. Each start mounts a new, empty tmpfs.
    public var privateStateFileSystemSize: String?

    /// The state directory as this process can reach it: through `/proc/<pid>/root` when it is a
    /// private tmpfs (`privateStateFileSystemSize`), else the directory itself.
    public var stateView: String {
        privateStateFileSystemSize == nil ? stateDirectory : "/proc/\(pid)/root" + stateDirectory
    }

    public init(root: String, arguments: [String] = [], namespace: String? = nil, executable: String? = nil) {
        self.root = root
        self.extraArguments = arguments
        self.namespace = namespace
        self.executable = executable ?? Products.path(of: "culvertd")
    }

    deinit {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Starts culvertd and waits until it answers Ping.
    public func start() throws {
        logIndex += 1
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)  // failure shows up as a nil handle below
        let process = Process()
        let arguments =
            ["--state-dir", stateDirectory, "--runtime-dir", runtimeDirectory, "--config-dir", configDirectory] + extraArguments
        if let size = privateStateFileSystemSize {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
            // unshare execs without forking and sh execs culvertd: the pid stays culvertd's.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            process.arguments =
                [
                    "--mount", "--propagation", "private", "/bin/sh", "-c",
                    #"mount -t tmpfs -o "size=$1,mode=0755" culvert-test "$2" && shift 2 && exec "$@""#, "sh", size, stateDirectory,
                    executable,
                ] + arguments
        } else if let namespace {
            // nsenter execs the command after setns, so the pid is culvertd's own. Not `ip netns
            // exec`: that also gives the command a mount namespace with a fresh /sys, in which the
            // cgroup file systems culvertd contains providers with are not mounted.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            process.arguments = ["--net=/run/netns/" + namespace, "--", executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = FileHandle.nullDevice
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = nil
        environment["LISTEN_FDS"] = nil
        process.environment = environment
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(Self.startDeadline)
        while Date() < deadline {
            if !process.isRunning { break }
            if let connection = try? VarlinkClientConnection(path: socketPath),  // not listening yet: retry
                (try? connection.call(ManagerMethod.ping.rawValue, timeoutMilliseconds: 2000)) != nil  // likewise
            {
                return
            }
            usleep(10_000)
        }
        throw DaemonProcessError.didNotStart(log: log)
    }

    /// SIGKILL, then reap.
    public func crash() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then reap. Returns the exit status.
    @discardableResult
    public func stop() -> Int32 {
        guard let process else { return -1 }
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }  // no log yet: empty

    /// Resident memory of the daemon in KiB.
    public var residentKilobytes: Int { Identity.residentKilobytes(of: pid) ?? 0 }

    /// A new blocking connection to the daemon.
    public func connect() throws -> VarlinkClientConnection { try VarlinkClientConnection(path: socketPath) }
}
