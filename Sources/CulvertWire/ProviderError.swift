// ProviderError: the named errors of io.culvert.Provider, raised by either end of the channel.

import CulvertVarlink

/// An `io.culvert.Provider` error reply (`io.culvert.Provider.varlink` documents the parameters).
public enum ProviderError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidSettings(field: String, reason: String, description: String)
    case settingsFailed(step: String, description: String)
    case protectFailed(reason: String, description: String)
    case tunnelFailed(reason: String, description: String)
    case handoverFailed(reason: String, description: String)
    case notReady(state: String)
    /// Any other error reply, or a known name with parameters of another shape, as received.
    case other(name: String, parameters: JSONValue)

    /// The fully qualified error name.
    public var name: String {
        switch self {
        case .invalidSettings: return ProviderErrorName.invalidSettings.rawValue
        case .settingsFailed: return ProviderErrorName.settingsFailed.rawValue
        case .protectFailed: return ProviderErrorName.protectFailed.rawValue
        case .tunnelFailed: return ProviderErrorName.tunnelFailed.rawValue
        case .handoverFailed: return ProviderErrorName.handoverFailed.rawValue
        case .notReady: return ProviderErrorName.notReady.rawValue
        case .other(let name, _): return name
        }
    }

    public var parameters: JSONValue {
        switch self {
        case .invalidSettings(let field, let reason, let description):
            return ["field": .string(field), "reason": .string(reason), "description": .string(description)]
        case .settingsFailed(let step, let description): return ["step": .string(step), "description": .string(description)]
        case .protectFailed(let reason, let description), .tunnelFailed(let reason, let description),
            .handoverFailed(let reason, let description):
            return ["reason": .string(reason), "description": .string(description)]
        case .notReady(let state): return ["state": .string(state)]
        case .other(_, let parameters): return parameters
        }
    }

    /// The error as sent on the wire.
    public var varlinkError: VarlinkError { VarlinkError(name, parameters) }

    public var description: String { varlinkError.description }

    /// Decodes an error reply; anything that is not a well-formed `io.culvert.Provider` error is `.other`.
    public init(_ reply: VarlinkError) {
        let p = WireErrorFields(parameters: reply.parameters)
        do {
            switch ProviderErrorName(rawValue: reply.name) {
            case .invalidSettings?:
                self = .invalidSettings(
                    field: try p.string("field"), reason: try p.string("reason"), description: try p.string("description"))
            case .settingsFailed?: self = .settingsFailed(step: try p.string("step"), description: try p.string("description"))
            case .protectFailed?: self = .protectFailed(reason: try p.string("reason"), description: try p.string("description"))
            case .tunnelFailed?: self = .tunnelFailed(reason: try p.string("reason"), description: try p.string("description"))
            case .handoverFailed?: self = .handoverFailed(reason: try p.string("reason"), description: try p.string("description"))
            case .notReady?: self = .notReady(state: try p.string("state"))
            case nil: self = .other(name: reply.name, parameters: reply.parameters)
            }
        } catch {
            self = .other(name: reply.name, parameters: reply.parameters)
        }
    }
}
