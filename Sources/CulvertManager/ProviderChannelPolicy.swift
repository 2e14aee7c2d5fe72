// ProviderChannelPolicy: what culvertd's end of a provider channel accepts (issue 11, item 6) —
// how many descriptors each io.culvert.Provider method may carry, and which ways of closing the
// channel are the provider breaking its contract (the session then ends `protocol_violation`).

import CulvertSystem
import CulvertVarlink
import CulvertWire

enum ProviderChannelPolicy {
    /// Descriptors a call from the provider may carry: Protect takes exactly one (fewer is its
    /// ProtectFailed wrong_descriptor_count), every other method none.
    static let descriptorsPerCall: [String: Int] = [ProviderMethod.protect.member: 1]
    /// Descriptors a reply may carry, by the method culvertd called: PrepareHandover moves the
    /// provider's sockets; every other reply carries none.
    static let descriptorsPerReply: [String: Int] = [
        ProviderMethod.prepareHandover.member: DescriptorPassing.maximumDescriptorsPerMessage
    ]

    /// The limits culvertd's VarlinkPeer on a provider channel runs with.
    static var peerLimits: VarlinkPeerLimits {
        var limits = VarlinkPeerLimits()
        limits.descriptorsPerCall = descriptorsPerCall
        limits.descriptorsPerReply = descriptorsPerReply
        return limits
    }

    /// What the provider did wrong, if the channel closed because of it; nil for an ordinary close
    /// (the provider exiting, culvertd closing it, a system error).
    static func violation(_ reason: VarlinkCloseReason) -> String? {
        switch reason {
        case .protocolError, .tooLarge, .tooManyDescriptors, .descriptorsNotAllowed, .outputOverflow:
            return reason.description
        case .peerClosed, .overBudget, .deadlineExpired, .system, .closedLocally:
            return nil
        }
    }
}
