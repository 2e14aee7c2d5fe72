// VarlinkPeerCall: the values that cross a VarlinkPeer's API — calls received, replies received,
// and why a call ended (VarlinkCloseReason.swift says why the connection did).

import CulvertSystem

/// A call received from the other end, already checked against the interface.
public struct VarlinkPeerCall: Sendable {
    public let message: VarlinkCallMessage
    /// Descriptors that arrived with the call (close-on-exec). The handler owns them and must
    /// close them, or hand them on.
    public let descriptors: [Descriptor]

    public init(message: VarlinkCallMessage, descriptors: [Descriptor] = []) {
        self.message = message
        self.descriptors = descriptors
    }

    public var parameters: JSONValue { message.parameters }
}

/// One successful reply to a call this end made.
public struct VarlinkPeerReply: Sendable {
    public var parameters: JSONValue
    /// True when more replies to the same call follow (only for calls made with `more`).
    public var continues: Bool
    /// Descriptors that arrived with the reply (close-on-exec). The reply handler owns them.
    public var descriptors: [Descriptor]

    public init(parameters: JSONValue = [:], continues: Bool = false, descriptors: [Descriptor] = []) {
        self.parameters = parameters
        self.continues = continues
        self.descriptors = descriptors
    }
}

/// Why a call this end made did not get a (further) successful reply.
public enum VarlinkPeerCallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The other end answered with an error reply; that ends the call.
    case remote(VarlinkError)
    /// The connection closed before the final reply.
    case closed(VarlinkPeerCloseReason)

    public var description: String {
        switch self {
        case .remote(let error): return error.description
        case .closed(let reason): return "connection closed: \(reason)"
        }
    }
}
