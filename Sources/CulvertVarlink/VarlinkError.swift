// VarlinkError: error replies on the wire — the standard org.varlink.service errors and our own.

/// An error reply: a fully qualified name and typed parameters.
public struct VarlinkError: Error, Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var parameters: JSONValue

    public init(_ name: String, _ parameters: JSONValue = [:]) {
        self.name = name
        self.parameters = parameters
    }

    public var description: String {
        if case .object(let members) = parameters, !members.isEmpty { return "\(name) \(parameters.jsonString)" }
        return name
    }

    // The standard errors of org.varlink.service.
    public static func interfaceNotFound(_ interface: String) -> VarlinkError {
        VarlinkError(VarlinkServiceErrorName.interfaceNotFound.rawValue, ["interface": .string(interface)])
    }
    public static func methodNotFound(_ method: String) -> VarlinkError {
        VarlinkError(VarlinkServiceErrorName.methodNotFound.rawValue, ["method": .string(method)])
    }
    /// MethodNotFound with a `hint` beside the standard `method`: which server (and version) lacks
    /// it, for a client older or newer than the server. Clients read `method` and ignore members
    /// they do not know (the reference implementation does), so the extra member is compatible.
    public static func methodNotFound(_ method: String, server info: VarlinkServiceInfo) -> VarlinkError {
        VarlinkError(
            VarlinkServiceErrorName.methodNotFound.rawValue,
            [
                "method": .string(method),
                "hint": .string(
                    "\(info.product) \(info.version) has no method \(method); the client may be newer or older than \(info.product)"),
            ])
    }
    public static func methodNotImplemented(_ method: String) -> VarlinkError {
        VarlinkError(VarlinkServiceErrorName.methodNotImplemented.rawValue, ["method": .string(method)])
    }
    public static func invalidParameter(_ parameter: String) -> VarlinkError {
        VarlinkError(VarlinkServiceErrorName.invalidParameter.rawValue, ["parameter": .string(parameter)])
    }
    public static let permissionDenied = VarlinkError(VarlinkServiceErrorName.permissionDenied.rawValue)
    public static let expectedMore = VarlinkError(VarlinkServiceErrorName.expectedMore.rawValue)

    /// Not a varlink standard error: the message itself was unusable (not JSON, not a call,
    /// too large). The connection is closed after it is sent, since framing can't be trusted.
    public static func invalidMessage(reason: String, offset: Int? = nil) -> VarlinkError {
        var parameters: [String: JSONValue] = ["reason": .string(reason)]
        if let offset { parameters["offset"] = .int(Int64(offset)) }
        return VarlinkError("io.culvert.Varlink.InvalidMessage", .object(parameters))
    }

    // Culvert's own refusals of the generic server (contract 15); after each the connection is closed.

    /// The server, or the caller's share of it, holds as many connections as it may.
    public static func tooManyConnections(limit: Int) -> VarlinkError {
        VarlinkError("io.culvert.Varlink.TooManyConnections", ["limit": .int(Int64(limit))])
    }
    /// The caller's connections together hold more buffered bytes than its budget.
    public static func memoryBudgetExceeded(limit: Int) -> VarlinkError {
        VarlinkError("io.culvert.Varlink.MemoryBudgetExceeded", ["limit": .int(Int64(limit))])
    }
    /// A message stayed unfinished (no NUL) for longer than the deadline.
    public static func partialMessageTimeout(seconds: Int) -> VarlinkError {
        VarlinkError("io.culvert.Varlink.PartialMessageTimeout", ["seconds": .int(Int64(seconds))])
    }
    /// The connection stayed open with no call in progress for longer than the deadline.
    public static func idleTimeout(seconds: Int) -> VarlinkError {
        VarlinkError("io.culvert.Varlink.IdleTimeout", ["seconds": .int(Int64(seconds))])
    }
}
