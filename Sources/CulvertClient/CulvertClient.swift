// CulvertClient: the typed client of culvertd's io.culvert.Manager interface.

import CulvertCore
import CulvertVarlink
import CulvertWire
import FoundationEssentials

/// A client of `culvertd`, configured with the path of its control socket.
///
/// A value type holding configuration only: every call opens its own connection (so a restarted
/// daemon is picked up by the next call), does its blocking I/O on a dedicated thread, and gives
/// up after `callDeadline`. Cancelling the calling task closes the connection at once and the
/// call throws `.cancelled`.
public struct CulvertClient: Sendable {
    /// Where culvertd listens when nothing else is said (its `--runtime-dir` default).
    public static let defaultSocketPath = "/run/culvert/io.culvert.Manager"
    /// The environment variable that overrides `defaultSocketPath`.
    public static let socketEnvironmentVariable = "CULVERT_SOCKET"
    /// How long one call may take, connection included, unless the client is given another deadline.
    public static let defaultCallDeadline: Duration = .seconds(10)

    public let socketPath: String
    /// Bound on each call (and, in `watch`, on each reconnection handshake).
    public var callDeadline: Duration

    public init(socketPath: String, callDeadline: Duration = CulvertClient.defaultCallDeadline) {
        self.socketPath = socketPath
        self.callDeadline = callDeadline
    }

    /// The socket to use: `explicit` (a `--socket` flag) if given, else `$CULVERT_SOCKET` if set
    /// and non-empty, else `defaultSocketPath`.
    public static func resolveSocketPath(
        explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnvironment = environment[socketEnvironmentVariable], !fromEnvironment.isEmpty { return fromEnvironment }
        return defaultSocketPath
    }

    // MARK: calls

    /// Checks that the daemon is alive and serving. Cheap enough to poll.
    public func ping() async throws(CulvertClientError) -> PingReply {
        let reply = try await call(.ping)
        return try WireDecoding.decode(PingReply.self, from: reply, what: "Ping reply")
    }

    /// The daemon's whole state at one instant.
    public func status() async throws(CulvertClientError) -> ManagerStatus {
        try await statusAndLimits().status
    }

    /// The daemon's whole state at one instant, and the control socket's limits in force with
    /// their use (nil from a daemon that does not report them).
    public func statusAndLimits() async throws(CulvertClientError) -> (status: ManagerStatus, limits: ConnectionLimits?) {
        let reply = try await call(.getStatus)
        let status = try WireDecoding.decode(ManagerStatus.self, from: reply["status"], what: "status")
        guard let limits = reply["limits"], limits != .null else { return (status, nil) }
        // try?: the limits are an addition to the status; a daemon whose report this client
        // cannot read still gives a usable status.
        return (status, try? WireDecoding.decode(ConnectionLimits.self, from: limits, what: "limits"))
    }

    /// Every profile, sorted by name (from one `GetStatus`).
    public func profiles() async throws(CulvertClientError) -> [Profile] {
        try await status().profiles
    }

    /// The profile called `name`; throws `.profileNotFound` if there is none.
    public func profile(named name: String) async throws(CulvertClientError) -> Profile {
        guard let profile = try await profiles().first(where: { $0.name == name }) else { throw .profileNotFound(name: name) }
        return profile
    }

    /// Creates or replaces a profile; durable on disk before this returns.
    ///
    /// - Parameter secrets: replaces all stored secrets when given (`[:]` clears them); nil keeps
    ///   the stored ones. Values are write-only: no reply ever carries them.
    /// - Throws: `.invalidProfile` for a field the daemon refuses, `.permissionDenied` for a caller
    ///   that may only read, `.storageFailed` if the change could not be made durable.
    public func saveProfile(
        name: String, extensionIdentifier: String, options: [String: String] = [:], alwaysOn: Bool = false,
        secrets: [String: String]? = nil, killSwitch: Bool = false, killSwitchAllow: [String] = []
    ) async throws(CulvertClientError) -> SavedProfile {
        var input: [String: JSONValue] = [
            "name": .string(name), "extension": .string(extensionIdentifier),
            "options": .object(options.mapValues { .string($0) }), "alwaysOn": .bool(alwaysOn),
        ]
        if killSwitch { input["killSwitch"] = .bool(true) }
        if !killSwitchAllow.isEmpty { input["killSwitchAllow"] = .array(killSwitchAllow.map { .string($0) }) }
        if let secrets { input["secrets"] = .object(secrets.mapValues { .string($0) }) }
        let reply = try await call(.saveProfile, ["profile": .object(input)])
        return try WireDecoding.decode(SavedProfile.self, from: reply, what: "SaveProfile reply")
    }

    /// Removes a profile and its secrets; durable on disk before this returns. Returns the seq of
    /// the `profile_removed` event. Throws `.profileNotFound` if there is no such profile.
    @discardableResult
    public func removeProfile(named name: String) async throws(CulvertClientError) -> Int64 {
        let reply = try await call(.removeProfile, ["name": .string(name)])
        guard let seq = reply["seq"]?.intValue else { throw .protocolViolation("RemoveProfile reply without seq") }
        return seq
    }

    /// Follows the event stream; see `WatchStream` for the guarantees.
    ///
    /// - Parameters:
    ///   - since: the seq of the last event the caller already has, in `epoch`. With both given the
    ///     stream starts with `.resumed` and replays what came after (or resyncs with a snapshot if
    ///     the daemon can't); without them it starts with a snapshot event. Giving only one of the
    ///     two is the same as giving neither.
    ///   - policy: reconnection timing and limits.
    public func watch(since: Int64? = nil, epoch: String? = nil, policy: WatchPolicy = WatchPolicy()) -> WatchStream {
        var start = WatchPosition()
        if let since, let epoch { start = WatchPosition(epoch: epoch, seq: since) }
        return WatchStream(path: socketPath, callDeadline: callDeadline, start: start, policy: policy)
    }

    // MARK: plumbing

    /// One call on a fresh connection, on its own thread, bounded by `deadline` (default `callDeadline`).
    func call(_ method: ManagerMethod, _ parameters: JSONValue = [:], deadline: Duration? = nil) async throws(CulvertClientError)
        -> JSONValue
    {
        let path = socketPath
        let deadline = ContinuousClock.now + (deadline ?? callDeadline)
        return try await BlockingCall.run(name: "culvert-\(method.member)") { gate in
            do throws(ManagerConnection.Failure) {
                let connection = try ManagerConnection.open(path: path, gate: gate)
                defer { connection.close() }
                return .success(try connection.call(method, parameters, until: deadline))
            } catch {
                return .failure(CulvertClientError(error, path: path, member: method.member))
            }
        }.get()
    }
}
