// ReplayWindow: the receive-side counter filter of a session (whitepaper §5.4.6, RFC 6479's
// bitmap as in the Linux kernel and wireguard-go): 8192 bits in a ring of 128 64-bit blocks, of
// which 8128 form the window. A counter newer than any seen slides the window; one inside it is
// accepted once; one older than the window, a duplicate, or ≥ REJECT_AFTER_MESSAGES is refused.
// The ring is allocated once per session; checks and updates never allocate. Hand-written.

public struct ReplayWindow: Sendable, Codable, Equatable {
    static let blockBits: UInt64 = 64
    static let ringBlocks: UInt64 = 128
    /// Counters this far behind the greatest one seen are still accepted (once).
    public static let windowSize: UInt64 = (ringBlocks - 1) * blockBits

    /// The greatest counter accepted so far (0 before any).
    public internal(set) var greatest: UInt64 = 0
    var blocks: [UInt64]
    /// Counters at or above this are refused outright (REJECT_AFTER_MESSAGES).
    public let limit: UInt64

    public init(limit: UInt64 = WireGuardTimers.standard.rejectAfterMessages) {
        blocks = [UInt64](repeating: 0, count: Int(Self.ringBlocks))
        self.limit = limit
    }

    /// Whether `counter` would be accepted now (no change): the cheap test before decryption.
    public func wouldAccept(_ counter: UInt64) -> Bool {
        guard counter < limit else { return false }
        if counter > greatest { return true }
        guard greatest - counter <= Self.windowSize else { return false }
        let (block, bit) = Self.position(counter)
        return blocks[block] & bit == 0
    }

    /// Records `counter` (after the packet authenticated); false when it must be dropped.
    public mutating func accept(_ counter: UInt64) -> Bool {
        guard counter < limit else { return false }
        if counter > greatest {
            let current = greatest / Self.blockBits
            let advance = min(counter / Self.blockBits - current, Self.ringBlocks)
            if advance > 0 {
                for step in 1...advance { blocks[Int((current + step) % Self.ringBlocks)] = 0 }
            }
            greatest = counter
        } else if greatest - counter > Self.windowSize {
            return false
        }
        let (block, bit) = Self.position(counter)
        let old = blocks[block]
        blocks[block] = old | bit
        return old & bit == 0
    }

    @inline(__always) private static func position(_ counter: UInt64) -> (Int, UInt64) {
        (Int((counter / blockBits) % ringBlocks), 1 << (counter % blockBits))
    }
}
