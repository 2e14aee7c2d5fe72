// CulvertClientError: why a call to culvertd did not succeed, in terms a tool can act on.

import CulvertSystem
import CulvertVarlink
import CulvertWire

/// The typed failure of every `CulvertClient` call.
///
/// The daemon's named errors (`ManagerError`, decoded from the reply) map to their own cases;
/// anything the client does not know by name arrives as `remote`, so nothing is lost.
public enum CulvertClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No connection could be made or it broke before the reply (`reason` says how). If the break
    /// came after a change was sent, the change may or may not have been made.
    case daemonUnreachable(path: String, reason: String)
    /// The daemon (or the socket's file permissions, `action == "connect"`) refused the caller.
    case permissionDenied(action: String)
    /// No profile has this name.
    case profileNotFound(name: String)
    /// The daemon refused a profile field; `reason` is empty, too_long, invalid_characters or too_many.
    case invalidProfile(field: String, reason: String)
    /// The daemon could not make the change durable; nothing was changed.
    case storageFailed(path: String, errno: Int64, description: String)
    /// No reply within the call's deadline.
    case timedOut
    /// The daemon answered with something the contract does not allow.
    case protocolViolation(String)
    /// The calling task was cancelled; the connection was closed.
    case cancelled
    /// No extension with this identifier is installed.
    case extensionNotFound(identifier: String)
    /// The bundle is older than the installed version; install it with `allowDowngrade` to accept that.
    case downgradeRefused(identifier: String, installed: String, offered: String)
    /// The bundle needs culvertd `required` or newer (its `minimumCulvertdVersion`); this one is `running`.
    case daemonTooOld(identifier: String, required: String, running: String)
    /// The bundle is signed by another publisher than the installed version (or one of the two
    /// is unsigned); publishers are fingerprints or "unsigned".
    case publisherMismatch(identifier: String, installed: String, offered: String)
    /// The daemon's policy does not allow this publisher (a fingerprint or "unsigned").
    case publisherNotAllowed(identifier: String, publisher: String)
    /// The bundle failed verification; `reason` is a stable `BundleError` code such as
    /// `file_hash_mismatch`, `path` the offending file when there is one.
    case bundleRejected(reason: String, path: String?, description: String)
    /// The bundle path is not usable; `reason` is not_absolute, missing or not_a_directory.
    case invalidPath(path: String, reason: String)
    /// The daemon's policy file or trusted keys cannot be read; nothing is installed until fixed.
    case policyInvalid(path: String, description: String)
    /// The extension is installed but may not be used yet (`state`, e.g. awaiting_approval).
    case extensionNotUsable(identifier: String, state: String)
    /// Sessions of `profiles` run the extension; uninstall with force to disconnect them.
    case extensionInUse(identifier: String, profiles: [String])
    /// culvertd was not running and the install request could not be written to its spool.
    case spoolFailed(path: String, errno: Int64, description: String)
    /// The session did not reach connected. `reason` is a `SessionFailure` reason code (or
    /// `disconnected`: a Disconnect came first); `log` holds the provider's last output lines.
    case connectFailed(reason: String, description: String, log: [String])
    /// The profile has no session: it was not connected since culvertd started.
    case sessionNotFound(profile: String)
    /// The profile's provider cannot take messages now (`state` is the session's state).
    case providerUnavailable(profile: String, state: String)
    /// The provider failed a message, or went away before answering.
    case providerMessageFailed(profile: String, reason: String, description: String)
    /// Another connected session already routes everything; only one full tunnel at a time.
    case fullTunnelInUse(profile: String)
    /// culvertd did not re-exec: `reason` is busy (sessions are starting or stopping, or clients
    /// wait on them; try again) or binary_unusable (not an executable file by absolute path).
    case reexecFailed(reason: String, description: String)
    /// A live upgrade was abandoned: `installed` still runs (the session of `profile`) and stays
    /// installed. `reason` as in the upgrade_failed event; `log` holds the new version's last lines.
    case upgradeFailed(
        identifier: String, installed: String, offered: String, profile: String?, reason: String, description: String, log: [String])
    /// Not an upgrade policy (now, when-idle, on-disconnect, ask).
    case invalidUpgradePolicy(policy: String)
    /// The extension has no staged version to apply or cancel.
    case noUpgradeStaged(identifier: String)
    /// The extension's upgrade is being applied now.
    case upgradeInProgress(identifier: String)
    /// Any other error reply, as the daemon sent it.
    case remote(VarlinkError)

    public var description: String {
        switch self {
        case .daemonUnreachable(let path, let reason): return "cannot reach culvertd at \(path): \(reason)"
        case .permissionDenied(let action): return "permission denied for \(action)"
        case .profileNotFound(let name): return "no profile named \"\(name)\""
        case .invalidProfile(let field, let reason): return "invalid profile: \(field): \(reason.replacingUnderscores)"
        case .storageFailed(let path, _, let description): return "the daemon could not store \(path): \(description)"
        case .timedOut: return "no reply from culvertd in time"
        case .protocolViolation(let detail): return "culvertd broke the protocol: \(detail)"
        case .cancelled: return "cancelled"
        case .extensionNotFound(let identifier): return "no extension \"\(identifier)\" is installed"
        case .downgradeRefused(let identifier, let installed, let offered):
            return "\(identifier) \(offered) is older than the installed \(installed)"
        case .daemonTooOld(let identifier, let required, let running):
            return "\(identifier) needs culvertd \(required) or newer; this one is \(running)"
        case .publisherMismatch(let identifier, let installed, let offered):
            return "\(identifier) is installed from publisher \(installed.shortPublisher), the bundle is from \(offered.shortPublisher)"
        case .publisherNotAllowed(let identifier, let publisher):
            return "the policy does not allow publisher \(publisher.shortPublisher) (of \(identifier))"
        case .bundleRejected(let reason, _, let description):
            // culvertd's descriptions start with the reason code already; don't say it twice.
            return "bundle rejected: " + (description.hasPrefix(reason + ":") ? description : "\(reason): \(description)")
        case .invalidPath(let path, let reason): return "\(path): \(reason.replacingUnderscores)"
        case .policyInvalid(let path, let description): return "culvertd's policy is unreadable: \(path): \(description)"
        case .extensionNotUsable(let identifier, let state): return "extension \(identifier) is \(state.replacingUnderscores)"
        case .extensionInUse(let identifier, let profiles):
            return "extension \(identifier) is in use by \(profiles.joined(separator: ", "))"
        case .spoolFailed(let path, _, let description): return "cannot spool the request in \(path): \(description)"
        case .connectFailed(let reason, let description, _):
            return "connect failed: " + (description.hasPrefix(reason + ":") ? description : "\(reason): \(description)")
        case .sessionNotFound(let profile): return "profile \"\(profile)\" has no session"
        case .providerUnavailable(let profile, let state):
            return "the provider of \(profile) cannot take messages (session \(state.replacingUnderscores))"
        case .providerMessageFailed(let profile, let reason, let description):
            return "the provider of \(profile) failed the message: \(reason): \(description)"
        case .fullTunnelInUse(let profile): return "\(profile) already routes all traffic; only one full tunnel at a time"
        case .reexecFailed(let reason, let description):
            return "re-exec refused: "
                + (description.hasPrefix(reason + ":") ? description : "\(reason.replacingUnderscores): \(description)")
        case .upgradeFailed(let identifier, let installed, let offered, let profile, let reason, let description, _):
            let session = profile.map { " (session \($0))" } ?? ""
            return "upgrade of \(identifier) to \(offered) failed\(session): \(reason): \(description); \(installed) keeps running"
        case .invalidUpgradePolicy(let policy): return "\"\(policy)\" is not an upgrade policy (now, when-idle, on-disconnect, ask)"
        case .noUpgradeStaged(let identifier): return "no upgrade of \(identifier) is staged"
        case .upgradeInProgress(let identifier): return "an upgrade of \(identifier) is being applied"
        case .remote(let error): return "culvertd replied \(error)"
        }
    }
}

extension String {
    fileprivate var replacingUnderscores: String { split(separator: "_").joined(separator: " ") }
    /// A publisher as a person reads it: "unsigned", or the first 16 hex digits of the fingerprint.
    fileprivate var shortPublisher: String { self == "unsigned" ? self : String(prefix(16)) }
}

extension CulvertClientError {
    /// Maps a varlink client failure on a connection to `path` to the client's typed error.
    /// `method` names the call, for errors that don't carry their action.
    init(_ error: VarlinkClientError, path: String, method: String) {
        switch error {
        case .system(let system):
            if system.errno == Syscall.EACCES || system.errno == Syscall.EPERM {
                self = .permissionDenied(action: "connect")
            } else {
                self = .daemonUnreachable(path: path, reason: Syscall.errorMessage(system.errno))
            }
        case .disconnected:
            self = .daemonUnreachable(path: path, reason: "the daemon closed the connection before replying")
        case .timedOut:
            self = .timedOut
        case .invalidReply(let why):
            self = .protocolViolation("invalid reply to \(method): \(why)")
        case .remote(let remote):
            self = CulvertClientError(remote: remote, method: method)
        }
    }

    /// Maps an error reply to the matching typed case (decoded as `ManagerError`), or `.remote`
    /// when it has no case of its own — an error a newer daemon added among them.
    init(remote error: VarlinkError, method: String) {
        if error.name == VarlinkServiceErrorName.permissionDenied.rawValue {
            self = .permissionDenied(action: method)
            return
        }
        switch ManagerError(error) {
        case .permissionDenied(let action, _): self = .permissionDenied(action: action)
        case .profileNotFound(let name): self = .profileNotFound(name: name)
        case .invalidProfile(let field, let reason): self = .invalidProfile(field: field, reason: reason)
        case .storageFailed(let path, let errno, let description): self = .storageFailed(path: path, errno: errno, description: description)
        case .extensionNotFound(let identifier): self = .extensionNotFound(identifier: identifier)
        case .downgradeRefused(let identifier, let installed, let offered):
            self = .downgradeRefused(identifier: identifier, installed: installed, offered: offered)
        case .daemonTooOld(let identifier, let required, let running):
            self = .daemonTooOld(identifier: identifier, required: required, running: running)
        case .publisherMismatch(let identifier, let installed, let offered):
            self = .publisherMismatch(identifier: identifier, installed: installed, offered: offered)
        case .publisherNotAllowed(let identifier, let publisher): self = .publisherNotAllowed(identifier: identifier, publisher: publisher)
        case .bundleRejected(let reason, let path, let description):
            self = .bundleRejected(reason: reason, path: path, description: description)
        case .invalidPath(let path, let reason): self = .invalidPath(path: path, reason: reason)
        case .policyInvalid(let path, let description): self = .policyInvalid(path: path, description: description)
        case .extensionInUse(let identifier, let profiles): self = .extensionInUse(identifier: identifier, profiles: profiles)
        case .extensionNotUsable(let identifier, let state): self = .extensionNotUsable(identifier: identifier, state: state)
        case .connectFailed(let reason, let description, let log): self = .connectFailed(reason: reason, description: description, log: log)
        case .sessionNotFound(let profile): self = .sessionNotFound(profile: profile)
        case .providerUnavailable(let profile, let state): self = .providerUnavailable(profile: profile, state: state)
        case .providerMessageFailed(let profile, let reason, let description):
            self = .providerMessageFailed(profile: profile, reason: reason, description: description)
        case .fullTunnelInUse(let profile): self = .fullTunnelInUse(profile: profile)
        case .reexecFailed(let reason, let description): self = .reexecFailed(reason: reason, description: description)
        case .upgradeFailed(let identifier, let installed, let offered, let profile, let reason, let description, let log):
            self = .upgradeFailed(
                identifier: identifier, installed: installed, offered: offered, profile: profile, reason: reason, description: description,
                log: log)
        case .invalidUpgradePolicy(let policy): self = .invalidUpgradePolicy(policy: policy)
        case .noUpgradeStaged(let identifier): self = .noUpgradeStaged(identifier: identifier)
        case .upgradeInProgress(let identifier): self = .upgradeInProgress(identifier: identifier)
        case .subscriberTooSlow, .other:
            self = .remote(error)
        }
    }
}
