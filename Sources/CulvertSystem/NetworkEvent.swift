// NetworkEvent: what NetworkEventMonitor reports — a link or an address appearing, changing or
// going away, or the news that some of those reports were lost. Plain values, no C types.

/// One change to the network configuration, as the kernel announced it.
public enum NetworkEvent: Sendable, Hashable, CustomStringConvertible {
    /// A link was created, changed (flags, MTU, name…) or deleted.
    case link(LinkEvent)
    /// An address was added to or removed from a link.
    case address(AddressEvent)
    /// The kernel dropped notifications because they were not read fast enough (ENOBUFS), or one
    /// was too large to receive whole. What happened in between is unknown: re-read the full state
    /// of every link and address of interest. Events after this one are reported normally.
    case overrun

    /// One line in the spirit of `ip monitor`, e.g. `link 7 cvt0 up running mtu 1400`.
    public var description: String {
        switch self {
        case .link(let event): event.description
        case .address(let event): event.description
        case .overrun: "overrun"
        }
    }
}

/// A link notification (RTM_NEWLINK or RTM_DELLINK).
public struct LinkEvent: Sendable, Hashable, CustomStringConvertible {
    /// Whether the link exists after the event.
    public enum Kind: String, Sendable, Hashable {
        /// Created, or changed in any way (RTM_NEWLINK: the kernel does not say which).
        case newOrChanged
        /// Deleted (RTM_DELLINK); the other fields describe its last state.
        case deleted
    }

    public var kind: Kind
    public var interfaceIndex: Int32
    /// The interface name; empty if the message did not carry one.
    public var name: String
    /// Administratively up (`IFF_UP`, as set by `ip link set … up`).
    public var isUp: Bool
    /// Operationally up (`IFF_RUNNING`, operstate UP).
    public var isRunning: Bool
    /// The lower layer has carrier (`IFF_LOWER_UP`); for a TUN device, some process has it open.
    public var hasCarrier: Bool
    /// The MTU; nil if the message did not carry one.
    public var mtu: Int?

    public init(
        kind: Kind, interfaceIndex: Int32, name: String, isUp: Bool, isRunning: Bool, hasCarrier: Bool, mtu: Int?
    ) {
        self.kind = kind
        self.interfaceIndex = interfaceIndex
        self.name = name
        self.isUp = isUp
        self.isRunning = isRunning
        self.hasCarrier = hasCarrier
        self.mtu = mtu
    }

    /// E.g. `link 7 cvt0 up running carrier mtu 1400`, or `deleted link 7 cvt0 down mtu 1500`.
    public var description: String {
        var words = [kind == .deleted ? "deleted link" : "link", "\(interfaceIndex)", name.isEmpty ? "?" : name]
        words.append(isUp ? "up" : "down")
        if isRunning { words.append("running") }
        if hasCarrier { words.append("carrier") }
        if let mtu { words.append("mtu \(mtu)") }
        return words.joined(separator: " ")
    }
}

/// An address notification (RTM_NEWADDR or RTM_DELADDR) for IPv4 or IPv6.
public struct AddressEvent: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// Added (RTM_NEWADDR; also sent when an existing address's lifetimes or flags change).
        case added
        /// Removed (RTM_DELADDR), including when its link went away.
        case removed
    }

    public var kind: Kind
    public var interfaceIndex: Int32
    /// The link's own address (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6) with its prefix length.
    public var address: InterfaceAddress

    public init(kind: Kind, interfaceIndex: Int32, address: InterfaceAddress) {
        self.kind = kind
        self.interfaceIndex = interfaceIndex
        self.address = address
    }

    /// E.g. `added 10.77.0.2/24 on 7`.
    public var description: String { "\(kind.rawValue) \(address) on \(interfaceIndex)" }
}
