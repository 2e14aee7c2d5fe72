// ProviderSpawn: starts a provider executable as an unprivileged user holding only its TUN (fd 3) and
// its channel (fd 4), as docs/DESIGN.md contract 8 requires, optionally contained (ProviderContainment:
// cgroups, seccomp). The clone/exec is `culvert_spawn_provider` in the C shim (swift-subprocess cannot
// hand a child extra descriptors, place it in a cgroup or filter it); this file validates the request,
// owns the C strings and turns the shim's (step, errno) into a typed `SpawnError`.

import CCulvert

#if canImport(Glibc)
    import Glibc
#endif

/// The user and group a provider runs as. Never root: `ProviderSpawn.spawn` refuses uid 0 and gid 0.
public struct ProviderCredentials: Sendable, Hashable {
    public var userID: UInt32
    public var groupID: UInt32

    public init(userID: UInt32, groupID: UInt32) {
        self.userID = userID
        self.groupID = groupID
    }

    /// The uid and primary gid of user `name` (e.g. `nobody`, `culvert-ext`).
    /// The corresponding C function is `getpwnam_r`.
    public static func lookUp(userNamed name: String) throws(SpawnError) -> ProviderCredentials {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var buffer = [CChar](repeating: 0, count: ProviderSpawn.userLookupBufferBytes)
        let rc = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        guard rc == 0 else { throw .userLookupFailed(name: name, error: SystemError(call: "getpwnam_r", errno: rc, path: name)) }
        guard result != nil else { throw .userNotFound(name) }
        return ProviderCredentials(userID: entry.pw_uid, groupID: entry.pw_gid)
    }
}

/// A step of starting a provider; a `SpawnError.failed` names the one that failed.
public enum SpawnStep: String, Sendable, Hashable {
    // In culvertd:
    case createPipes, fork, openProcessDescriptor, awaitExec
    // In the child, before execve:
    case newSession, resetScheduling, resetSignals, arrangeDescriptors, closeOtherDescriptors, changeDirectory
    case dropBoundingCapabilities, clearAmbientCapabilities, dropSupplementaryGroups, setGroupID, setUserID
    case verifyIdentity, verifyNoCapabilities, setNoNewPrivileges, exec
    // Containment, in the child: joining the cgroup2 directory (fork fallback), the v1 hierarchies,
    // installing the seccomp filter and sending its listener to culvertd.
    case joinCgroup, attachCgroupV1, installSeccompFilter, sendSeccompListener

    init(shimStep: Int32) {
        switch shimStep {
        case CULVERT_SPAWN_STEP_PIPE: self = .createPipes
        case CULVERT_SPAWN_STEP_FORK: self = .fork
        case CULVERT_SPAWN_STEP_PIDFD_OPEN: self = .openProcessDescriptor
        case CULVERT_SPAWN_STEP_HANDSHAKE: self = .awaitExec
        case CULVERT_SPAWN_STEP_SETSID: self = .newSession
        case CULVERT_SPAWN_STEP_SCHEDULING: self = .resetScheduling
        case CULVERT_SPAWN_STEP_SIGNALS: self = .resetSignals
        case CULVERT_SPAWN_STEP_DESCRIPTORS: self = .arrangeDescriptors
        case CULVERT_SPAWN_STEP_CLOSE_DESCRIPTORS: self = .closeOtherDescriptors
        case CULVERT_SPAWN_STEP_CHDIR: self = .changeDirectory
        case CULVERT_SPAWN_STEP_BOUNDING_SET: self = .dropBoundingCapabilities
        case CULVERT_SPAWN_STEP_AMBIENT_SET: self = .clearAmbientCapabilities
        case CULVERT_SPAWN_STEP_SETGROUPS: self = .dropSupplementaryGroups
        case CULVERT_SPAWN_STEP_SETRESGID: self = .setGroupID
        case CULVERT_SPAWN_STEP_SETRESUID: self = .setUserID
        case CULVERT_SPAWN_STEP_VERIFY_IDS: self = .verifyIdentity
        case CULVERT_SPAWN_STEP_CAPABILITIES: self = .verifyNoCapabilities
        case CULVERT_SPAWN_STEP_NO_NEW_PRIVS: self = .setNoNewPrivileges
        case CULVERT_SPAWN_STEP_JOIN_CGROUP: self = .joinCgroup
        case CULVERT_SPAWN_STEP_ATTACH_CGROUP_V1: self = .attachCgroupV1
        case CULVERT_SPAWN_STEP_SECCOMP: self = .installSeccompFilter
        case CULVERT_SPAWN_STEP_SEND_LISTENER: self = .sendSeccompListener
        default: self = .exec
        }
    }
}

/// Why a provider could not be started. No child is left behind in any case.
public enum SpawnError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request itself is unacceptable (relative path, root credentials, reserved or malformed
    /// environment name, a NUL in a string, a limit exceeded, TUN and channel the same descriptor).
    case invalidRequest(String)
    /// No user of that name.
    case userNotFound(String)
    /// Looking the user up failed (not "no such user").
    case userLookupFailed(name: String, error: SystemError)
    /// execve: the executable (or a directory on its path) does not exist.
    case executableNotFound(path: String)
    /// execve: the file is not executable by the provider's user, or not in an executable format.
    case notExecutable(path: String, error: SystemError)
    /// Any other step failed.
    case failed(step: SpawnStep, error: SystemError)

    public var description: String {
        switch self {
        case .invalidRequest(let reason): return "invalid provider spawn request: \(reason)"
        case .userNotFound(let name): return "no user named \(name)"
        case .userLookupFailed(let name, let error): return "looking up user \(name): \(error)"
        case .executableNotFound(let path): return "provider executable \(path) does not exist"
        case .notExecutable(let path, let error): return "provider executable \(path) cannot be executed: \(error)"
        case .failed(let step, let error): return "starting the provider failed at \(step.rawValue): \(error)"
        }
    }
}

/// What to start, as whom, with which extra environment. `spawn` adds the two descriptors.
public struct ProviderSpawn: Sendable, Hashable {
    /// Most arguments after argv[0].
    public static let maximumArguments = 256
    /// Most bytes over all arguments and extra environment entries.
    public static let maximumArgumentBytes = 128 * 1024
    /// Most caller-given environment variables.
    public static let maximumExtraEnvironment = Int(CULVERT_SPAWN_MAX_EXTRA_ENV)
    /// How long `spawn` waits for the child to reach execve (or report why it did not) before killing it.
    public static let execTimeout: Duration = .seconds(10)
    /// Scratch space for `getpwnam_r`.
    static let userLookupBufferBytes = 16384
    /// Variables Culvert sets itself; extra variables may not use these names.
    public static let reservedEnvironmentNames: Set<String> = ["PATH", "LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID"]
    /// The child's PATH.
    public static let searchPath = "/usr/bin:/bin"

    /// Absolute path of the executable (the verified store copy). Also passed as argv[0].
    public var executablePath: String
    /// argv[1...].
    public var arguments: [String]
    public var credentials: ProviderCredentials
    /// Added to PATH, LISTEN_FDS=2, LISTEN_FDNAMES=tun:channel and LISTEN_PID; sorted by name in the child.
    public var extraEnvironment: [String: String]
    /// Cgroups and seccomp filter; none by default.
    public var containment: ProviderContainment

    public init(
        executablePath: String, arguments: [String] = [], credentials: ProviderCredentials, extraEnvironment: [String: String] = [:],
        containment: ProviderContainment = ProviderContainment()
    ) {
        self.executablePath = executablePath
        self.arguments = arguments
        self.credentials = credentials
        self.extraEnvironment = extraEnvironment
        self.containment = containment
    }

    /// Starts the provider with `tun` as its fd 3 and `channel` as its fd 4 (wherever they are now,
    /// including 3 and 4), contained as `containment` says. Returns once the child has called execve
    /// successfully; the descriptors stay open here and are the caller's to close. The corresponding C
    /// function is `culvert_spawn_provider` (clone3 or fork, cgroups, credential drop, seccomp, execve).
    public func spawn(tun: Descriptor, channel: Descriptor) throws(SpawnError) -> SpawnedProcess {
        try validate(tun: tun, channel: channel)
        let argv = ([executablePath] + arguments).map { strdup($0) } + [nil]
        let environment = extraEnvironment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            environment.forEach { free($0) }
        }
        guard !argv.dropLast().contains(nil), !environment.dropLast().contains(nil) else {
            throw .failed(step: .createPipes, error: SystemError(call: "strdup", errno: ENOMEM))
        }
        var pid: Int32 = 0
        var pidfd: Int32 = -1
        var output: Int32 = -1
        var listener: Int32 = -1
        var placement: Int32 = 0
        var failedStep: Int32 = 0
        var failedErrno: Int32 = 0
        let timeout = Int32(clamping: SpawnedProcess.milliseconds(Self.execTimeout))
        let attach = containment.attachFiles.map(\.rawValue)
        let filter = containment.seccomp?.bytes ?? []
        let rc = attach.withUnsafeBufferPointer { attachBuffer in
            filter.withUnsafeBytes { filterBytes in
                let shimContainment = culvert_spawn_containment(
                    cgroup_dir_fd: containment.cgroup?.rawValue ?? -1, try_clone_into_cgroup: containment.tryCloneIntoCgroup ? 1 : 0,
                    attach_fds: attachBuffer.baseAddress, attach_count: Int32(attach.count),
                    filter: filter.isEmpty ? nil : filterBytes.baseAddress,
                    filter_instructions: Int32(filter.count / SeccompProgram.instructionBytes))
                return withUnsafePointer(to: shimContainment) { pointer in
                    culvert_spawn_provider(
                        executablePath, argv, environment, credentials.userID, credentials.groupID, tun.rawValue, channel.rawValue,
                        timeout, containment.isEmpty ? nil : pointer, &pid, &pidfd, &output, &listener, &placement, &failedStep,
                        &failedErrno)
                }
            }
        }
        guard rc == 0 else {
            let step = SpawnStep(shimStep: failedStep)
            let error = SystemError(call: step.rawValue, errno: failedErrno, path: step == .exec ? executablePath : nil)
            if step == .exec {
                if failedErrno == ENOENT || failedErrno == ENOTDIR { throw .executableNotFound(path: executablePath) }
                if failedErrno == EACCES || failedErrno == ENOEXEC { throw .notExecutable(path: executablePath, error: error) }
            }
            throw .failed(step: step, error: error)
        }
        return SpawnedProcess(
            processID: pid, processDescriptor: Descriptor(rawValue: pidfd), output: Descriptor(rawValue: output),
            seccompListener: listener >= 0 ? Descriptor(rawValue: listener) : nil,
            cgroupPlacement: placement == CULVERT_SPAWN_PLACED_CLONE_INTO_CGROUP
                ? .clonedIntoCgroup : placement == CULVERT_SPAWN_PLACED_ATTACHED_IN_CHILD ? .joinedBeforeExec : .none)
    }

    private func validate(tun: Descriptor, channel: Descriptor) throws(SpawnError) {
        guard executablePath.hasPrefix("/") else { throw .invalidRequest("executable path \(executablePath) is not absolute") }
        guard credentials.userID != 0, credentials.groupID != 0 else {
            throw .invalidRequest("providers never run as uid 0 or gid 0")
        }
        guard tun.rawValue >= 0, channel.rawValue >= 0, tun != channel else {
            throw .invalidRequest("TUN \(tun) and channel \(channel) must be two open descriptors")
        }
        guard containment.attachFiles.count <= ProviderContainment.maximumAttachFiles else {
            throw .invalidRequest("more than \(ProviderContainment.maximumAttachFiles) cgroup v1 files")
        }
        guard (containment.cgroup.map { [$0] } ?? []).allSatisfy({ $0.rawValue >= 0 }),
            containment.attachFiles.allSatisfy({ $0.rawValue >= 0 })
        else { throw .invalidRequest("a cgroup descriptor is not open") }
        guard arguments.count <= Self.maximumArguments else { throw .invalidRequest("more than \(Self.maximumArguments) arguments") }
        guard extraEnvironment.count <= Self.maximumExtraEnvironment else {
            throw .invalidRequest("more than \(Self.maximumExtraEnvironment) environment variables")
        }
        var bytes = executablePath.utf8.count
        for string in [executablePath] + arguments + Array(extraEnvironment.keys) + Array(extraEnvironment.values) {
            guard !string.utf8.contains(0) else { throw .invalidRequest("a NUL byte in \(string.debugDescription)") }
            bytes += string.utf8.count + 1
        }
        guard bytes <= Self.maximumArgumentBytes else {
            throw .invalidRequest("arguments and environment exceed \(Self.maximumArgumentBytes) bytes")
        }
        for name in extraEnvironment.keys {
            guard !Self.reservedEnvironmentNames.contains(name) else { throw .invalidRequest("\(name) is set by Culvert") }
            guard Self.isEnvironmentName(name) else {
                throw .invalidRequest("\(name.debugDescription) is not an environment variable name")
            }
        }
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`.
    private static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
        }
    }
}
