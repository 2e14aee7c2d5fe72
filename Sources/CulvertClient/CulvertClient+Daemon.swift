// CulvertClient+Daemon: calls about culvertd itself rather than its profiles or extensions.

import CulvertVarlink
import CulvertWire

extension CulvertClient {
    /// Asks culvertd to replace its program in place (needs root): with `binary` (an absolute
    /// path), or else the binary it runs from, as it is on disk now. Returns once culvertd has
    /// accepted; the new image takes over moments later with the same epoch, control socket,
    /// client connections (an open `watch` sees `daemon_going_away`, then `daemon_back`) and
    /// tunnels. `ping` until it answers to know the new image serves.
    ///
    /// - Throws: `.reexecFailed` (reason busy: sessions start or stop, try again; or
    ///   binary_unusable), `.permissionDenied`.
    public func reexec(binary: String? = nil) async throws(CulvertClientError) {
        var parameters: [String: JSONValue] = [:]
        if let binary { parameters["binary"] = .string(binary) }
        _ = try await call(.reexec, .object(parameters))
    }
}

extension CulvertClient {
    /// culvertd's counters and gauges in the Prometheus text exposition format (version 0.0.4):
    /// every `culvert_*` series, with profile names, extension identifiers and outcomes as labels,
    /// never a secret, an option value or a path. Root and the reader group may call it.
    ///
    /// - Throws: `.permissionDenied`; from a culvertd older than GetMetrics, its MethodNotFound.
    public func metrics() async throws(CulvertClientError) -> String {
        let reply = try await call(.getMetrics)
        guard let text = reply["text"]?.stringValue else {
            throw .protocolViolation("GetMetrics reply has no text")
        }
        return text
    }
}
