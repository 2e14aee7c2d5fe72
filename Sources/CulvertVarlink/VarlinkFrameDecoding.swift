// VarlinkFrameDecoding: large messages are parsed and encoded off the connection's queue.
//
// Parsing a 16 MiB message takes tens of milliseconds and more; on a server's one queue every other
// client would wait that long. A frame of `offQueueFrom` bytes or more is parsed on a utility queue
// and the result comes back to the connection's queue, where the connection waits for it without
// taking further frames (so order holds). Smaller frames are parsed in place: the hop would cost
// more than the parse.

import CulvertSystem
import Dispatch

public enum VarlinkFrameDecoding {
    /// Frames this large or larger are parsed off the connection's queue.
    public static let offQueueFrom = 64 << 10
    /// Where large frames are parsed (and large messages encoded, `EncodedCall`): one at a time,
    /// on a thread at `ThreadPriority.bulkNiceness`, so they share one core and yield the CPU to
    /// the server's queue whenever both are runnable.
    public static let work = WorkerThread(name: "culvert.varlink.decode", niceness: ThreadPriority.bulkNiceness)

    /// Parses one message's bytes (between two NULs); malformed JSON is `InvalidMessage`.
    static func parse(_ bytes: ArraySlice<UInt8>, maximumDepth: Int) -> Result<JSONValue, VarlinkError> {
        do throws(VarlinkError) {
            return .success(try JSONValue.parseMessage(bytes, maximumDepth: maximumDepth))
        } catch {
            return .failure(error)
        }
    }

    /// Parses `bytes` on `work` and hands the result to `then` on `queue`.
    static func parseOffQueue(
        _ bytes: ArraySlice<UInt8>, maximumDepth: Int, returningTo queue: DispatchQueue,
        then: @escaping (Result<JSONValue, VarlinkError>) -> Void
    ) {
        let completion = QueueBoundCompletion(then)
        work.async {
            let parsed = parse(bytes, maximumDepth: maximumDepth)
            queue.async { completion.run(parsed) }
        }
    }
}

/// A call encoded before it is made (`VarlinkPeer.call(encoded:)`), on any thread: a large
/// message is then encoded where it costs nobody a wait.
public struct EncodedCall: Sendable {
    public let frame: [UInt8]
    public let more: Bool
    public let oneway: Bool
    /// The method's member name, e.g. "PrepareHandover": which reply allowance applies.
    public let member: String

    public init(_ message: VarlinkCallMessage) {
        frame = message.encoded()
        member = message.member
        more = message.more
        oneway = message.oneway
    }
}

/// A completion made on a queue and run on that queue only, carried through another queue untouched.
private struct QueueBoundCompletion<Value>: @unchecked Sendable {  // created and run on the connection's queue only
    let run: (Value) -> Void
    init(_ run: @escaping (Value) -> Void) { self.run = run }
}
