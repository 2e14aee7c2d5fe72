// DescriptorPassing: socketpairs, and bytes sent together with descriptors (SCM_RIGHTS) — how a
// provider receives its TUN and hands sockets to a successor, and how culvertd will carry its
// descriptors across re-exec.

import CCulvert

public enum DescriptorPassing {
    /// Most descriptors in one message.
    public static let maximumDescriptorsPerMessage = Int(CULVERT_MAXIMUM_PASSED_DESCRIPTORS)

    /// A connected pair of close-on-exec AF_UNIX stream sockets. The corresponding C function is `socketpair`.
    public static func socketPair() throws(SystemError) -> (Descriptor, Descriptor) {
        var fds: [Int32] = [-1, -1]
        _ = try Syscall.call("socketpair") { culvert_socketpair(&fds) }
        return (Descriptor(rawValue: fds[0]), Descriptor(rawValue: fds[1]))
    }
}

/// What `receive(maximumBytes:maximumDescriptors:)` returns.
public struct ReceivedMessage: Sendable {
    /// Empty at end of stream.
    public var bytes: [UInt8]
    /// Close-on-exec; the caller owns them.
    public var descriptors: [Descriptor]
}

extension Descriptor {
    /// Sends `bytes` (at least one byte: descriptors ride on data) with `descriptors` attached.
    /// Returns how many bytes were sent; the descriptors go with the first byte.
    /// The corresponding C function is `sendmsg` with SCM_RIGHTS.
    public func send(_ bytes: [UInt8], passing descriptors: [Descriptor]) throws(SystemError) -> Int {
        guard !bytes.isEmpty, descriptors.count <= DescriptorPassing.maximumDescriptorsPerMessage else {
            throw SystemError(call: "sendmsg", errno: Syscall.EINVAL)
        }
        let raw = descriptors.map(\.rawValue)
        return try Syscall.withBytes(bytes) { buffer throws(SystemError) in
            try Syscall.call("sendmsg") {
                culvert_send_with_descriptors(rawValue, buffer.baseAddress, buffer.count, raw, Int32(raw.count))
            }
        }
    }

    /// Receives up to `maximumBytes` and any descriptors sent with them. More descriptors than
    /// `maximumDescriptors` is an error (`EMSGSIZE`) after every received descriptor is closed, so
    /// a peer can never make us leak or lose track of one. The corresponding C function is `recvmsg`.
    public func receive(maximumBytes: Int, maximumDescriptors: Int) throws(SystemError) -> ReceivedMessage {
        let capacity = min(max(0, maximumDescriptors), DescriptorPassing.maximumDescriptorsPerMessage)
        var fds = [Int32](repeating: -1, count: DescriptorPassing.maximumDescriptorsPerMessage)
        var count = Int32(capacity)
        var truncated: Int32 = 0
        var buffer = [UInt8](repeating: 0, count: max(1, maximumBytes))
        let n = try Syscall.withMutableBytes(&buffer) { raw throws(SystemError) in
            try Syscall.call("recvmsg") {
                culvert_receive_with_descriptors(rawValue, raw.baseAddress, raw.count, &fds, &count, &truncated)
            }
        }
        let received = fds.prefix(Int(count)).map { Descriptor(rawValue: $0) }
        if truncated != 0 {
            received.forEach { $0.close() }
            throw SystemError(call: "recvmsg (too many descriptors)", errno: Syscall.EMSGSIZE)
        }
        return ReceivedMessage(bytes: Array(buffer.prefix(n)), descriptors: received)
    }
}
