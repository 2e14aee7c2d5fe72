// VarlinkReplier: the handle a handler answers a call through, possibly many times (`more`).

import Dispatch

/// Sends the replies to one call. Confined to the server queue.
///
/// A call ends with exactly one final reply (`continues` false) or one error; replies after that
/// are ignored. For `oneway` calls every reply is dropped. If the client goes away first,
/// `onCancel` runs once and later replies are ignored.
public final class VarlinkReplier: @unchecked Sendable {  // confined to the server queue; checked by dispatchPrecondition
    public let wantsMore: Bool
    public let oneway: Bool
    let queue: DispatchQueue
    private weak var connection: VarlinkServerConnection?
    private var finished = false
    /// Set by `markCarriable`.
    public private(set) var isCarriable = false
    /// Runs once if the connection closes before the final reply.
    public var onCancel: (() -> Void)?

    init(connection: VarlinkServerConnection?, queue: DispatchQueue, wantsMore: Bool, oneway: Bool) {
        self.connection = connection
        self.queue = queue
        self.wantsMore = wantsMore
        self.oneway = oneway
        if oneway { finished = true }
    }

    /// False once the final reply was sent or the client went away.
    public var isActive: Bool { !finished && connection?.isOpen == true }

    /// Sends parameters. `continues: true` is only sent to callers that asked for `more`.
    public func reply(_ parameters: JSONValue, continues: Bool = false) {
        reply(encodedParameters: parameters.serialized(), continues: continues)
    }

    /// Sends already-serialised parameters (a JSON object), e.g. one event encoded once for all subscribers.
    public func reply(encodedParameters: [UInt8], continues: Bool = false) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !finished else { return }
        let continuing = continues && wantsMore
        if !continuing { finished = true }
        connection?.send(frame: VarlinkReplyMessage.frame(encodedParameters: encodedParameters, continues: continuing))
        if !continuing { connection?.callFinished() }
    }

    /// Sends a final reply built beforehand with `VarlinkReplyMessage.frame(encodedParameters:continues: false)`
    /// — off the queue, for a large one — so that its bytes are neither built nor copied here.
    public func reply(finalFrame frame: [UInt8]) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !finished else { return }
        finished = true
        connection?.send(frame: frame)
        connection?.callFinished()
    }

    /// Sends a pre-built frame with `continues: true`, the fast path for broadcasting events.
    /// Returns false if the connection is gone or was dropped as too slow.
    @discardableResult
    public func sendContinuation(frame: [UInt8]) -> Bool {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !finished, wantsMore, let connection, connection.isOpen else { return false }
        connection.send(frame: frame)
        return connection.isOpen
    }

    /// Ends the call with an error.
    public func fail(_ error: VarlinkError) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !finished else { return }
        finished = true
        connection?.send(frame: VarlinkReplyMessage.frame(error: error))
        connection?.callFinished()
    }

    /// Declares this open `more` call one that may continue in another process image: while it
    /// is the connection's only open call, `VarlinkServer.connectionsAreCarriable` counts the
    /// connection as carriable, `handOverConnections` records the call's method, and the server
    /// that adopts the connection hands the call to its handler's `resume(_:replier:)`. Without
    /// `more` a call is never carried.
    public func markCarriable() {
        dispatchPrecondition(condition: .onQueue(queue))
        isCarriable = true
    }

    /// Called by the connection when it closes with this call still open.
    func cancel() {
        guard !finished else { return }
        finished = true
        let handler = onCancel
        onCancel = nil
        handler?()
    }
}
