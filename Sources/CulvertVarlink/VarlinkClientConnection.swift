// VarlinkClientConnection: a blocking varlink client over one AF_UNIX connection.

import CulvertSystem

/// Why a client call did not produce a reply.
public enum VarlinkClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// connect() or I/O failed.
    case system(SystemError)
    /// The server closed the connection.
    case disconnected
    /// No reply within the deadline.
    case timedOut
    /// The server sent something that is not a varlink reply.
    case invalidReply(String)
    /// The server answered with an error reply.
    case remote(VarlinkError)

    public var description: String {
        switch self {
        case .system(let e): return e.description
        case .disconnected: return "the server closed the connection"
        case .timedOut: return "no reply in time"
        case .invalidReply(let why): return "invalid reply: \(why)"
        case .remote(let e): return e.description
        }
    }
}

/// A blocking client connection. Not thread-safe: one owner at a time (it is a class so the
/// descriptor is closed exactly once, on deinit or `close()`).
public final class VarlinkClientConnection {
    public let path: String
    public let descriptor: Descriptor
    private var buffer: [UInt8] = []
    private var scanned = 0
    private var closed = false
    /// Replies larger than this are refused (and the connection closed).
    public var maximumMessageSize = VarlinkLimits.defaultMaximumMessageSize
    public var maximumDepth = VarlinkLimits.defaultMaximumDepth

    /// Connects to `path`. The corresponding C function is `connect`.
    public init(path: String) throws(VarlinkClientError) {
        self.path = path
        do {
            descriptor = try UnixSocket.connect(path: path)
        } catch {
            throw .system(error)
        }
    }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        descriptor.close()
    }

    /// Sends one call without waiting for any reply.
    public func send(_ call: VarlinkCallMessage) throws(VarlinkClientError) {
        try sendRaw(call.encoded())
    }

    /// Sends raw bytes (tests use this for hostile input).
    public func sendRaw(_ bytes: [UInt8]) throws(VarlinkClientError) {
        guard !closed else { throw .disconnected }
        do {
            try descriptor.sendAll(bytes)
        } catch {
            if error.errno == Syscall.EPIPE || error.errno == Syscall.ECONNRESET { throw .disconnected }
            throw .system(error)
        }
    }

    /// Reads the next reply. An error reply is returned as a value, not thrown, so callers of
    /// `more` methods can see it in sequence. `timeoutMilliseconds` < 0 waits forever.
    public func receive(timeoutMilliseconds: Int32 = -1) throws(VarlinkClientError) -> VarlinkReplyMessage {
        while true {
            if let nul = buffer[scanned...].firstIndex(of: 0) {
                let message = buffer[0..<nul]
                defer {
                    buffer.removeSubrange(0...nul)
                    scanned = 0
                }
                do throws(VarlinkError) {
                    return try VarlinkReplyMessage.decode(message, maximumDepth: maximumDepth)
                } catch {
                    throw .invalidReply(error.description)
                }
            }
            scanned = buffer.count
            if buffer.count > maximumMessageSize { throw .invalidReply("message_too_large") }
            guard !closed else { throw .disconnected }
            if timeoutMilliseconds >= 0 {
                let readable: Bool
                do {
                    readable = try descriptor.waitReadable(timeoutMilliseconds: timeoutMilliseconds)
                } catch {
                    throw .system(error)
                }
                if !readable { throw .timedOut }
            }
            let n: Int
            do {
                n = try descriptor.read(appendingTo: &buffer, maximum: VarlinkLimits.readChunkSize)
            } catch {
                if error.errno == Syscall.ECONNRESET { throw .disconnected }
                throw .system(error)
            }
            if n == 0 { throw .disconnected }
        }
    }

    /// Calls a method and returns its single reply's parameters; an error reply is thrown as `.remote`.
    public func call(
        _ method: String, _ parameters: JSONValue = [:], timeoutMilliseconds: Int32 = -1
    ) throws(VarlinkClientError) -> JSONValue {
        try send(VarlinkCallMessage(method: method, parameters: parameters))
        let reply = try receive(timeoutMilliseconds: timeoutMilliseconds)
        if let error = reply.error { throw .remote(VarlinkError(error, reply.parameters)) }
        return reply.parameters
    }
}
