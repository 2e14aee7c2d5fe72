// BundleCapability: what an extension declares it can do, from a closed set.

/// A capability a manifest may declare. The set is closed: a manifest naming anything else is
/// refused, so a bundle written for a newer format fails loudly instead of losing a promise.
public enum BundleCapability: String, Sendable, Hashable, Codable, CaseIterable {
    /// The provider implements make-before-break handover (contract 9): it can hand its state
    /// blob and TUN fd to its successor. Without it, an upgrade is stop→start (`reasserting`).
    case handover
}
