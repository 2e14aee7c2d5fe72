// CulvertClient+Sessions: connecting and disconnecting profiles, provider messages, session logs.

import CulvertCore
import CulvertVarlink
import CulvertWire
import FoundationEssentials

extension CulvertClient {
    /// Bound on a `connect` or `disconnect` that waits for the session to settle. Longer than
    /// `callDeadline` on purpose: culvertd replies only once the provider has started (or failed,
    /// with its own start timeout), which a slow handshake with a peer can take a while to do.
    public static let sessionWaitDeadline: Duration = .seconds(120)

    /// Starts the profile's tunnel (needs root).
    ///
    /// With `wait` (the default) returns once the session is connected, else at once with the
    /// connecting session. Connecting a profile that is already connecting or connected changes
    /// nothing. Waiting calls are bounded by `max(callDeadline, sessionWaitDeadline)`.
    ///
    /// - Throws: `.connectFailed` (the session did not reach connected; carries the reason and the
    ///   provider's last log lines), `.profileNotFound`, `.extensionNotFound`,
    ///   `.extensionNotUsable`, `.fullTunnelInUse`, `.permissionDenied`.
    public func connect(profile: String, wait: Bool = true) async throws(CulvertClientError) -> SessionChange {
        let reply = try await call(
            .connect, ["profile": .string(profile), "wait": .bool(wait)], deadline: wait ? waitingDeadline : nil)
        return try WireDecoding.decode(SessionChange.self, from: reply, what: "Connect reply")
    }

    /// Stops the profile's tunnel and takes its network settings away (needs root). With `wait`
    /// (the default) returns once it is disconnected. An alwaysOn profile stays down until it is
    /// connected again.
    ///
    /// - Throws: `.profileNotFound`, `.sessionNotFound` (never connected since culvertd started),
    ///   `.permissionDenied`.
    public func disconnect(profile: String, wait: Bool = true) async throws(CulvertClientError) -> SessionChange {
        let reply = try await call(
            .disconnect, ["profile": .string(profile), "wait": .bool(wait)], deadline: wait ? waitingDeadline : nil)
        return try WireDecoding.decode(SessionChange.self, from: reply, what: "Disconnect reply")
    }

    /// Sends `data` to the profile's provider and returns its answer, or nil if it gave none
    /// (needs root). culvertd routes the message to whichever provider version currently runs.
    ///
    /// - Throws: `.providerUnavailable` (no provider runs, or it is not connected),
    ///   `.providerMessageFailed`, `.profileNotFound`, `.sessionNotFound`, `.permissionDenied`.
    public func sendProviderMessage(profile: String, data: [UInt8]) async throws(CulvertClientError) -> [UInt8]? {
        let reply = try await call(.sendProviderMessage, ["profile": .string(profile), "data": .string(Data(data).base64EncodedString())])
        guard let answer = reply["data"], answer != .null else { return nil }
        guard let text = answer.stringValue, let decoded = Data(base64Encoded: text) else {
            throw .protocolViolation("SendProviderMessage reply data is not base64")
        }
        return [UInt8](decoded)
    }

    /// The provider's captured output (stdout and stderr) of the profile's current or last
    /// session, oldest first: at most `limit` lines, all that culvertd keeps when nil (needs root).
    ///
    /// - Throws: `.profileNotFound`, `.sessionNotFound`, `.permissionDenied`.
    public func sessionLog(profile: String, limit: Int? = nil) async throws(CulvertClientError) -> SessionLog {
        var parameters: [String: JSONValue] = ["profile": .string(profile)]
        if let limit { parameters["limit"] = .int(Int64(limit)) }
        let reply = try await call(.getSessionLog, .object(parameters))
        return try WireDecoding.decode(SessionLog.self, from: reply, what: "GetSessionLog reply")
    }

    /// Every session culvertd knows (active, or ended since it started), sorted by profile name.
    public func sessions() async throws(CulvertClientError) -> [SessionInfo] {
        try await status().sessions.sorted { $0.profile < $1.profile }
    }

    /// The session of `profile` and its execution context, from one `GetStatus`.
    ///
    /// - Throws: `.sessionNotFound` if the profile exists but has no session, `.profileNotFound`
    ///   if neither exists.
    public func session(profile: String) async throws(CulvertClientError) -> SessionInfo {
        let status = try await status()
        if let session = status.sessions.first(where: { $0.profile == profile }) { return session }
        guard status.profiles.contains(where: { $0.name == profile }) else { throw .profileNotFound(name: profile) }
        throw .sessionNotFound(profile: profile)
    }

    private var waitingDeadline: Duration { max(callDeadline, Self.sessionWaitDeadline) }
}
