// How culvertctl reports culvertd's extension errors: exit status, stable code, and a hint.

import CulvertClient
import CulvertSystem

extension CommandFailure {
    /// The failure for one of the client's extension errors (`init(_:socket:)` passes only those here).
    init(extensionError error: CulvertClientError) {
        switch error {
        case .extensionNotFound:
            self.init(
                status: .notFound, code: "extension_not_found", message: error.description,
                hint: "`culvertctl extension list` shows the installed extensions")
        case .downgradeRefused:
            self.init(
                status: .inputRefused, code: "downgrade_refused", message: "downgrade refused: \(error.description)",
                hint: "pass --allow-downgrade to install the older version anyway")
        case .daemonTooOld(_, let required, _):
            self.init(
                status: .inputRefused, code: "daemon_too_old", message: error.description,
                hint: "upgrade culvertd to \(required) or newer, or install a version of the extension made for this one")
        case .publisherMismatch(let identifier, _, _):
            self.init(
                status: .inputRefused, code: "publisher_mismatch", message: "publisher mismatch: \(error.description)",
                hint: "another publisher cannot replace an installed extension; `culvertctl extension uninstall \(identifier)` first")
        case .publisherNotAllowed:
            self.init(
                status: .inputRefused, code: "publisher_not_allowed", message: error.description,
                hint: "allowedPublishers in culvertd's policy.json lists who may publish")
        case .bundleRejected(let reason, _, _):
            self.init(status: .inputRefused, code: "bundle_rejected", message: error.description, hint: Self.hint(forRejection: reason))
        case .invalidPath:
            self.init(
                status: .inputRefused, code: "invalid_path", message: "invalid bundle path: \(error.description)",
                hint: "give the bundle directory, <identifier>.culvertext")
        case .extensionInUse(let identifier, _):
            self.init(
                status: .failure, code: "extension_in_use", message: error.description,
                hint: "disconnect those sessions, or uninstall with --force: culvertctl extension uninstall \(identifier) --force")
        case .upgradeFailed(let identifier, _, _, let profile, _, _, let log):
            self.init(
                status: .failure, code: "upgrade_failed",
                message: ([error.description] + log.suffix(5).map { "  | " + $0 }).joined(separator: "\n"),
                hint: "the installed version still runs and stays installed; `culvertctl session log \(profile ?? "PROFILE")` and "
                    + "`culvertctl extension show \(identifier)` for more")
        case .extensionNotUsable(let identifier, let state):
            self.init(
                status: .inputRefused, code: "extension_not_usable", message: error.description,
                hint: state == "awaiting_approval"
                    ? "approve it first: culvertctl extension approve \(identifier)"
                    : "`culvertctl extension show \(identifier)` says why")
        case .invalidUpgradePolicy:
            self.init(
                status: .inputRefused, code: "invalid_upgrade_policy", message: error.description,
                hint: "give one of now, when-idle, on-disconnect, ask")
        case .noUpgradeStaged(let identifier):
            self.init(
                status: .notFound, code: "no_upgrade_staged", message: error.description,
                hint: "`culvertctl extension show \(identifier)` shows what is installed and staged")
        case .upgradeInProgress:
            self.init(
                status: .tryAgain, code: "upgrade_in_progress", message: error.description,
                hint: "try again once it has finished (`culvertctl watch` shows it)")
        case .policyInvalid:
            self.init(
                status: .failure, code: "policy_invalid", message: error.description,
                hint: "culvertd installs nothing until the file is fixed")
        case .spoolFailed(_, let errno, _):
            let denied = errno == Int64(Syscall.EACCES) || errno == Int64(Syscall.EPERM)
            self.init(
                status: denied ? .permissionDenied : .failure, code: "spool_failed",
                message: "culvertd is not running and the install could not be spooled: \(error.description)",
                hint: denied ? "installing needs root; try sudo" : "check --state-dir (it must be culvertd's)")
        default:
            // Unreachable: init(_:socket:) routes only the cases above here.
            self.init(status: .failure, code: "client_error", message: error.description)
        }
    }

    /// What to do about a bundle culvertd refused, by its reason code.
    static func hint(forRejection reason: String) -> String {
        switch reason {
        case "untrusted_key":
            return "culvertd trusts the publisher keys in trusted-keys/ of its configuration directory (default /etc/culvert)"
        case "unsigned_bundle":
            return "sign it with `culvertctl bundle sign`, or enable developerMode in culvertd's policy.json"
        default:
            return "`culvertctl bundle verify PATH` checks a bundle without culvertd"
        }
    }
}
