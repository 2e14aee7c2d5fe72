// DeviceHandoverError: why a handover blob was refused by WireGuardDevice.importHandover. The
// blob arrives through culvertd from the previous provider version but is treated as hostile
// bytes: every refusal is one of these, and none names a key (not even a public one).

public enum DeviceHandoverError: Error, Equatable, Sendable, CustomStringConvertible {
    /// More bytes than any state this device could export.
    case tooLarge(count: Int, maximum: Int)
    /// Does not start with the format's magic.
    case notAHandoverState
    /// A format version this build does not read.
    case unsupportedVersion(UInt16)
    /// Ended before a field at this byte offset.
    case truncated(at: Int)
    /// A field with a value the format does not allow (a flag other than 0/1, an offset out of range …).
    case invalidField(String, at: Int)
    /// Bytes after the last field.
    case trailingBytes(count: Int)
    /// More peers (or drop counters) than the limits allow.
    case tooManyPeers(count: Int, maximum: Int)
    /// The state belongs to another interface key than the profile's.
    case interfaceKeyMismatch
    /// The state's peers are not exactly the profile's peers.
    case peerSetMismatch
    /// Two sessions claim the same receiver index.
    case duplicateIndex
    /// A send counter or replay position at or past REJECT_AFTER_MESSAGES.
    case counterBeyondLimit

    public var description: String {
        switch self {
        case .tooLarge(let count, let maximum): return "handover state of \(count) bytes exceeds \(maximum)"
        case .notAHandoverState: return "not a culvert-wireguard handover state"
        case .unsupportedVersion(let version): return "handover state version \(version) is not supported"
        case .truncated(let offset): return "handover state truncated at byte \(offset)"
        case .invalidField(let field, let offset): return "handover state field \(field) at byte \(offset) is invalid"
        case .trailingBytes(let count): return "handover state has \(count) trailing bytes"
        case .tooManyPeers(let count, let maximum): return "handover state has \(count) entries, at most \(maximum) allowed"
        case .interfaceKeyMismatch: return "handover state belongs to another interface key"
        case .peerSetMismatch: return "handover state peers differ from the profile's peers"
        case .duplicateIndex: return "handover state reuses a receiver index"
        case .counterBeyondLimit: return "handover state has a counter past REJECT_AFTER_MESSAGES"
        }
    }
}
