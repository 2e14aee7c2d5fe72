// VarlinkCloseReason: why a varlink connection closed — a VarlinkStream, and with it the
// VarlinkPeer or server connection built on it.

import CulvertSystem

/// Why a varlink connection closed.
public enum VarlinkCloseReason: Error, Sendable, Equatable, CustomStringConvertible {
    /// The other end closed the socket (end of file, ECONNRESET or EPIPE).
    case peerClosed
    /// The other end sent something that breaks the protocol: not JSON, not a message, a reply
    /// nobody asked for, or descriptors that belong to no message.
    case protocolError(String)
    /// A message longer than the message size limit, or (VarlinkPeer) more queued calls than
    /// `maximumQueuedCallBytes`.
    case tooLarge
    /// More descriptors on one message than `maximumDescriptorsPerMessage`, or (VarlinkPeer) more
    /// waiting with queued calls than `maximumQueuedDescriptors`.
    case tooManyDescriptors
    /// (VarlinkPeer) A call or reply carried more descriptors than its method takes
    /// (`VarlinkPeerLimits.descriptorsPerCall` / `descriptorsPerReply`): what arrived, and the limit.
    case descriptorsNotAllowed(method: String, received: Int, allowed: Int)
    /// The other end stopped reading and more than the output bound waited for it.
    case outputOverflow
    /// The caller's connections together held more than its memory budget (server connections).
    case overBudget
    /// A message stayed unfinished, or the connection idle, past its deadline (server connections).
    case deadlineExpired
    /// A system call on the socket failed.
    case system(SystemError)
    /// This end closed the connection (or let go of it, for a re-exec).
    case closedLocally

    public var description: String {
        switch self {
        case .peerClosed: return "the other end closed the connection"
        case .protocolError(let why): return "protocol error: \(why)"
        case .tooLarge: return "message too large"
        case .tooManyDescriptors: return "too many descriptors"
        case .descriptorsNotAllowed(let method, let received, let allowed):
            return "\(received) descriptors with \(method), which takes at most \(allowed)"
        case .outputOverflow: return "the other end stopped reading"
        case .overBudget: return "memory budget exceeded"
        case .deadlineExpired: return "deadline expired"
        case .system(let error): return error.description
        case .closedLocally: return "closed locally"
        }
    }
}

/// The name VarlinkPeer's API has used since before the server connection shared its core.
public typealias VarlinkPeerCloseReason = VarlinkCloseReason
