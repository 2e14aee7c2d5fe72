// Replier+WireErrors: answer a call with a typed interface error (`replier.fail(.profileNotFound(name:))`).

import CulvertVarlink

extension VarlinkReplier {
    /// Fails the call with an `io.culvert.Manager` error.
    public func fail(_ error: ManagerError) { fail(error.varlinkError) }
}

extension VarlinkPeerResponder {
    /// Fails the call with an `io.culvert.Provider` error.
    public func fail(_ error: ProviderError) { fail(error.varlinkError) }
}
