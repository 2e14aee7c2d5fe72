// VarlinkPeerResponder: the handle a VarlinkPeer's call handler answers one received call through.

import CulvertSystem
import Dispatch

/// Sends the replies to one received call. Use it on the peer's queue only.
///
/// A call ends with exactly one final reply (`continues` false) or one error; the peer hands the
/// next received call to the handler only after that. Replies after the final one, every reply to
/// a `oneway` call and replies after the connection closed are dropped, and the descriptors passed
/// with a dropped reply are closed.
public final class VarlinkPeerResponder: @unchecked Sendable {  // confined to the peer's queue; checked by dispatchPrecondition
    /// Whether the caller asked for `more`: only then is `continues: true` sent.
    public let wantsMore: Bool
    public let oneway: Bool
    private let queue: DispatchQueue
    private weak var peer: VarlinkPeer?
    private var finished: Bool

    init(peer: VarlinkPeer, queue: DispatchQueue, wantsMore: Bool, oneway: Bool) {
        self.peer = peer
        self.queue = queue
        self.wantsMore = wantsMore
        self.oneway = oneway
        self.finished = oneway
    }

    /// False once the final reply was sent, for `oneway` calls, and once the connection closed.
    public var isActive: Bool {
        dispatchPrecondition(condition: .onQueue(queue))
        return !finished && peer?.isOpen == true
    }

    /// Sends `parameters`, with `descriptors` attached (the peer takes them and closes them once
    /// sent). `continues: true` is only honoured for callers that asked for `more`; otherwise
    /// the reply is final.
    public func reply(_ parameters: JSONValue = [:], continues: Bool = false, passing descriptors: [Descriptor] = []) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !finished, let peer else {
            descriptors.forEach { $0.close() }
            return
        }
        let continuing = continues && wantsMore
        if !continuing { finished = true }
        peer.send(VarlinkReplyMessage.frame(encodedParameters: parameters.serialized(), continues: continuing), passing: descriptors)
        if !continuing { peer.callFinished(self) }
    }

    /// Ends the call with an error reply.
    public func fail(_ error: VarlinkError) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !finished, let peer else { return }
        finished = true
        peer.send(VarlinkReplyMessage.frame(error: error), passing: [])
        peer.callFinished(self)
    }

    /// Called by the peer when it closes with this call unanswered.
    func cancel() {
        finished = true
    }
}
