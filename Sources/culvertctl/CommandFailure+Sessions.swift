// How culvertctl reports culvertd's session errors: exit status, stable code, and a hint.

import CulvertClient

extension CommandFailure {
    /// The failure for one of the client's session errors (`init(_:socket:)` passes only those here).
    init(sessionError error: CulvertClientError) {
        switch error {
        case .connectFailed(let reason, _, let log):
            self.init(
                status: .failure, code: "connect_failed", message: error.description,
                hint: reason == "disconnected" ? "a disconnect came first" : "`culvertctl session show PROFILE` has the details",
                log: log)
        case .sessionNotFound(let profile):
            self.init(
                status: .notFound, code: "session_not_found", message: error.description,
                hint: "it was not connected since culvertd started; `culvertctl connect \(profile)` starts it")
        case .providerUnavailable(let profile, _):
            self.init(
                status: .unavailable, code: "provider_unavailable", message: error.description,
                hint: "`culvertctl connect \(profile)` first")
        case .providerMessageFailed(let profile, _, _):
            self.init(
                status: .failure, code: "provider_message_failed", message: error.description,
                hint: "`culvertctl session log \(profile)` shows what the provider said")
        case .fullTunnelInUse(let profile):
            self.init(
                status: .failure, code: "full_tunnel_in_use", message: error.description,
                hint: "`culvertctl disconnect \(profile)` first")
        default:
            // Unreachable: init(_:socket:) routes only the cases above here.
            self.init(status: .failure, code: "client_error", message: error.description)
        }
    }
}
