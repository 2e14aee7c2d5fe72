// CommandFailure: why a command failed, its exit status, and the one line that tells the user.

import CulvertClient
import CulvertCore
import CulvertVarlink

/// culvertctl's exit statuses (sysexits.h values, so scripts can tell causes apart).
enum ExitStatus: Int32 {
    case success = 0
    case failure = 1
    /// EX_USAGE. argument-parser's own validation failures exit with this too.
    case usage = 64
    /// EX_DATAERR: the daemon refused the input (InvalidProfile, BundleRejected, DowngradeRefused, DaemonTooOld,
    /// PublisherMismatch, PublisherNotAllowed, InvalidPath, ExtensionNotUsable), stdin was
    /// malformed, or `bundle verify` found the bundle invalid.
    case inputRefused = 65
    /// EX_NOINPUT: no such profile, session or extension, or no such bundle or key file.
    case notFound = 66
    /// EX_UNAVAILABLE: culvertd is not reachable (or not culvertd, or too old for the call), or
    /// the profile's provider cannot take messages (ProviderUnavailable).
    case unavailable = 69
    /// EX_TEMPFAIL: culvertd cannot do it now (a re-exec while sessions start or stop); try again.
    case tryAgain = 75
    /// EX_NOPERM.
    case permissionDenied = 77
}

/// A failed command: printed as `culvertctl: error: <message>` (+ hint), exits with `status`.
struct CommandFailure: Error {
    var status: ExitStatus
    /// Stable machine-readable name, for --json.
    var code: String
    var message: String
    var hint: String?
    /// Output lines that explain the failure (a provider's last log lines), printed after the
    /// error line; nil when there are none to show.
    var log: [String]?

    init(status: ExitStatus, code: String, message: String, hint: String? = nil, log: [String]? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.log = log
    }

    init(_ error: CulvertClientError, socket: String) {
        switch error {
        case .daemonUnreachable(let path, let reason):
            self.init(
                status: .unavailable, code: "daemon_unreachable", message: "cannot reach culvertd: \(reason)",
                hint: "is culvertd running? socket: \(path)")
        case .timedOut:
            self.init(
                status: .unavailable, code: "timed_out", message: "culvertd did not answer in time",
                hint: "culvertd may be overloaded or stuck; socket: \(socket)")
        case .permissionDenied(let action):
            self.init(
                status: .permissionDenied, code: "permission_denied", message: "permission denied for \(action)",
                hint: action == "connect" || Self.readActions.contains(action)
                    ? "run as root or as a member of culvertd's reader group (default \"culvert\")"
                    : "changes need root; try sudo")
        case .profileNotFound(let name):
            self.init(
                status: .notFound, code: "profile_not_found", message: "no profile named \"\(name)\"",
                hint: "`culvertctl profile list` shows the profiles")
        case .invalidProfile(let field, _):
            self.init(status: .inputRefused, code: "invalid_profile", message: error.description, hint: Self.rule(for: field))
        case .storageFailed:
            self.init(
                status: .failure, code: "storage_failed", message: error.description,
                hint: "nothing was changed; see culvertd's log")
        case .protocolViolation:
            self.init(
                status: .failure, code: "protocol_violation", message: error.description,
                hint: "culvertd and culvertctl may be different versions")
        case .cancelled:
            self.init(status: .failure, code: "cancelled", message: "cancelled")
        case .extensionNotFound, .downgradeRefused, .daemonTooOld, .publisherMismatch, .publisherNotAllowed, .bundleRejected, .invalidPath,
            .policyInvalid, .extensionNotUsable, .extensionInUse, .spoolFailed, .upgradeFailed, .invalidUpgradePolicy, .noUpgradeStaged,
            .upgradeInProgress:
            self.init(extensionError: error)
        case .connectFailed, .sessionNotFound, .providerUnavailable, .providerMessageFailed, .fullTunnelInUse:
            self.init(sessionError: error)
        case .reexecFailed(let reason, _):
            switch reason {
            case "busy":
                self.init(
                    status: .tryAgain, code: "reexec_busy", message: error.description,
                    hint: "try again once sessions have finished connecting or disconnecting")
            case "binary_unusable":
                self.init(
                    status: .inputRefused, code: "binary_unusable", message: error.description,
                    hint: "give an executable culvertd by absolute path, or leave out --binary")
            default:
                self.init(status: .failure, code: "reexec_failed", message: error.description)
            }
        case .remote(let remote) where remote.name == VarlinkServiceErrorName.methodNotImplemented.rawValue:
            self.init(
                status: .unavailable, code: "not_implemented",
                message: "culvertd does not implement \(remote.parameters["method"]?.stringValue ?? "this method")",
                hint: "culvertd is older than culvertctl; update it")
        case .remote(let remote)
        where remote.name.hasPrefix(VarlinkServiceErrorName.interface + ".")
            && remote.name != VarlinkServiceErrorName.permissionDenied.rawValue:
            self.init(
                status: .unavailable, code: "not_culvertd", message: "\(socket) does not serve io.culvert.Manager (\(remote.name))",
                hint: "check --socket / $CULVERT_SOCKET, and that culvertd is up to date")
        case .remote:
            self.init(status: .failure, code: "remote_error", message: error.description)
        }
    }

    /// Methods a reader (not only root) may call.
    private static let readActions: Set<String> = ["Ping", "GetStatus", "Watch", "ListExtensions"]

    /// What the daemon accepts for `field` (as named in an InvalidProfile error).
    static func rule(for field: String) -> String {
        if field == "name" {
            return "a name is 1 to \(ProfileLimits.maximumNameLength) letters, digits, '.', '_', '-', starting with a letter or digit"
        }
        if field == "extension" { return "an extension identifier is reverse-DNS, e.g. io.culvert.wireguard" }
        return "at most \(ProfileLimits.maximumOptions) options and \(ProfileLimits.maximumSecrets) secrets, keys of 1 to "
            + "\(ProfileLimits.maximumOptionKeyLength) bytes, values up to \(ProfileLimits.maximumOptionValueLength) bytes "
            + "(secrets: \(ProfileLimits.maximumSecretLength))"
    }
}
