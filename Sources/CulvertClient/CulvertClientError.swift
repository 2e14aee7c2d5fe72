// CulvertClientError: why a call to culvertd did not succeed, in terms a tool can act on.

import CulvertSystem
import CulvertVarlink

/// The typed failure of every `CulvertClient` call.
///
/// The daemon's named errors (`io.culvert.Manager.<Error>`) map to their own cases; anything the
/// client does not know by name arrives as `remote`, so nothing is lost.
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
        case .remote(let error): return "culvertd replied \(error)"
        }
    }
}

extension String {
    fileprivate var replacingUnderscores: String { split(separator: "_").joined(separator: " ") }
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

    /// Maps an error reply to the matching typed case, or `.remote` when it has no case of its own.
    init(remote error: VarlinkError, method: String) {
        let p = error.parameters
        switch error.name {
        case "io.culvert.Manager.PermissionDenied":
            self = .permissionDenied(action: p["action"]?.stringValue ?? method)
        case "org.varlink.service.PermissionDenied":
            self = .permissionDenied(action: method)
        case "io.culvert.Manager.ProfileNotFound":
            self = .profileNotFound(name: p["name"]?.stringValue ?? "")
        case "io.culvert.Manager.InvalidProfile":
            self = .invalidProfile(field: p["field"]?.stringValue ?? "", reason: p["reason"]?.stringValue ?? "")
        case "io.culvert.Manager.StorageFailed":
            self = .storageFailed(
                path: p["path"]?.stringValue ?? "", errno: p["errno"]?.intValue ?? 0,
                description: p["description"]?.stringValue ?? "")
        default:
            self = .remote(error)
        }
    }
}
