// BundleCapability: what an extension declares it can do, from a closed set.

/// A capability a manifest may declare. The set is closed: a manifest naming anything else is
/// refused, so a bundle written for a newer format fails loudly instead of losing a promise.
public enum BundleCapability: String, Sendable, Hashable, Codable, CaseIterable {
    /// The provider implements make-before-break handover (contract 9): it can hand its state
    /// blob and TUN fd to its successor. Without it, an upgrade is stop→start (`reasserting`).
    case handover
    /// The provider reads and writes its TUN (fd 3) with a 10-byte `virtio_net_hdr` before every
    /// packet: culvertd creates the session's TUN with `IFF_VNET_HDR` and `TUNSETVNETHDRSZ` 10, and
    /// the provider may enable offloads (`TUNSETOFFLOAD`). Without it the TUN carries bare IP
    /// packets. An upgrade between a version with and one without it cannot keep the interface.
    case tunOffload = "tun-offload"
}
