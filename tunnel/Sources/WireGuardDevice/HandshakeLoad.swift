// HandshakeLoad: when the responder counts as "under load" (whitepaper §5.3, §5.4.7) — then it
// answers initiations and responses without a current mac2 with a cookie reply instead of doing the
// Diffie-Hellman work. wireguard-go (device/receive.go, IsUnderLoad) looks at the depth of its
// handshake queue (> QueueHandshakeSize/8 = 128) and stays under load for UnderLoadAfterTime = 1 s
// after; the provider has no queue (handshakes are handled in the receive batch), so this counts
// handshake messages received per fixed window instead: more than `threshold` in one `window` →
// under load until `holdTime` after the last window that was over. Pure logic: the caller gives the
// time, so tests decide it without a clock. Hand-written: no library decides WireGuard's load.

public struct HandshakeLoad: Sendable, Equatable {
    /// Handshake messages per window above which the device is under load: 64 per 100 ms (640/s)
    /// is far above what configured peers send (one initiation per peer per REKEY_TIMEOUT, at most
    /// one per 20 ms each is processed) and well below what one core derives sessions at.
    public static let standardThreshold = 64
    /// The counting window.
    public static let standardWindow: Duration = .milliseconds(100)
    /// How long the device stays under load after a window over the threshold (wireguard-go's
    /// UnderLoadAfterTime).
    public static let standardHoldTime: Duration = .seconds(1)

    public let threshold: Int
    public let window: Duration
    public let holdTime: Duration
    /// When the current window began (nil before the first handshake message).
    public private(set) var windowStart: Duration?
    /// Handshake messages counted in the current window.
    public private(set) var countInWindow = 0
    /// Under load before this time.
    public private(set) var underLoadUntil: Duration?
    /// Windows that went over the threshold (each sets or extends the hold).
    public private(set) var overloadedWindows: UInt64 = 0

    public init(threshold: Int = standardThreshold, window: Duration = standardWindow, holdTime: Duration = standardHoldTime) {
        self.threshold = max(threshold, 0)
        self.window = max(window, .nanoseconds(1))
        self.holdTime = max(holdTime, .zero)
    }

    public static let standard = HandshakeLoad()

    /// Counts `handshakes` messages received at `now` and returns whether the device is under load
    /// for them. A time before the window's start (a clock that went back) starts a new window.
    @discardableResult
    public mutating func record(handshakes: Int, now: Duration) -> Bool {
        guard handshakes > 0 else { return isUnderLoad(at: now) }
        if let start = windowStart, now >= start, now - start < window {
            countInWindow = countInWindow > Int.max - handshakes ? Int.max : countInWindow + handshakes
        } else {
            windowStart = now
            countInWindow = handshakes
        }
        if countInWindow > threshold {
            if underLoadUntil.map({ $0 < now + holdTime }) ?? true { underLoadUntil = now + holdTime }
            if countInWindow - handshakes <= threshold { overloadedWindows &+= 1 }  // the message that crossed it
        }
        return isUnderLoad(at: now)
    }

    /// Whether the device is under load at `now`.
    public func isUnderLoad(at now: Duration) -> Bool { underLoadUntil.map { now < $0 } ?? false }
}
