// VarlinkPeerCall: the values that cross a VarlinkPeer's API — calls received, replies received,
// and why a call or the connection ended.

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

/// Why a VarlinkPeer closed.
public enum VarlinkPeerCloseReason: Error, Sendable, Equatable, CustomStringConvertible {
    /// The other end closed the socket (end of file, ECONNRESET or EPIPE).
    case peerClosed
    /// The other end sent something that breaks the protocol: not JSON, not a message, a reply
    /// nobody asked for, or descriptors that belong to no message.
    case protocolError(String)
    /// A message longer than `maximumMessageSize`, or more queued calls than `maximumQueuedCallBytes`.
    case tooLarge
    /// More descriptors on one message than `maximumDescriptorsPerMessage`, or more waiting with queued
    /// calls than `maximumQueuedDescriptors`.
    case tooManyDescriptors
    /// The other end stopped reading and more than `maximumQueuedOutput` bytes waited for it.
    case outputOverflow
    /// A system call on the socket failed.
    case system(SystemError)
    /// `close()` was called on this end.
    case closedLocally

    public var description: String {
        switch self {
        case .peerClosed: return "the other end closed the connection"
        case .protocolError(let why): return "protocol error: \(why)"
        case .tooLarge: return "message too large"
        case .tooManyDescriptors: return "too many descriptors"
        case .outputOverflow: return "the other end stopped reading"
        case .system(let error): return error.description
        case .closedLocally: return "closed locally"
        }
    }
}
