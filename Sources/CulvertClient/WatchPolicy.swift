// WatchPolicy: how a WatchStream reconnects — backoff timing, buffering and when to give up.

/// The tunables of a `WatchStream`. The defaults suit an interactive tool.
public struct WatchPolicy: Sendable, Equatable {
    /// First wait after a failure.
    public static let defaultInitialBackoff: Duration = .milliseconds(100)
    /// Longest wait between attempts; a daemon that comes back is noticed within this.
    public static let defaultMaximumBackoff: Duration = .seconds(5)
    /// Each wait is randomly shortened or lengthened by up to this fraction, so clients that lost
    /// the same daemon don't all reconnect in the same instant.
    public static let defaultJitter = 0.2
    /// This many protocol violations within `defaultViolationWindow` invalidate the stream.
    public static let defaultMaximumViolations = 3
    public static let defaultViolationWindow: Duration = .seconds(60)
    /// Updates held for a consumer that has not asked for them yet. When full, the stream stops
    /// reading the socket; if the consumer stays behind, the daemon drops the subscription
    /// (`.droppedAsTooSlow`) and the stream resumes from the last update it buffered.
    public static let defaultMaximumBufferedUpdates = 1024

    public var initialBackoff: Duration
    public var maximumBackoff: Duration
    public var jitter: Double
    public var maximumViolations: Int
    public var violationWindow: Duration
    public var maximumBufferedUpdates: Int

    public init(
        initialBackoff: Duration = defaultInitialBackoff, maximumBackoff: Duration = defaultMaximumBackoff,
        jitter: Double = defaultJitter, maximumViolations: Int = defaultMaximumViolations,
        violationWindow: Duration = defaultViolationWindow, maximumBufferedUpdates: Int = defaultMaximumBufferedUpdates
    ) {
        precondition(initialBackoff > .zero && maximumBackoff >= initialBackoff, "backoff must be positive and capped above its start")
        precondition((0..<1).contains(jitter), "jitter is a fraction in 0..<1")
        precondition(maximumViolations > 0 && maximumBufferedUpdates > 0, "limits must be positive")
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
        self.jitter = jitter
        self.maximumViolations = maximumViolations
        self.violationWindow = violationWindow
        self.maximumBufferedUpdates = maximumBufferedUpdates
    }
}

/// Exponential backoff with jitter: initial, doubled per failure, capped; reset on success.
struct ReconnectBackoff {
    let policy: WatchPolicy
    private var current: Duration

    init(policy: WatchPolicy) {
        self.policy = policy
        current = policy.initialBackoff
    }

    /// The wait before the next attempt; doubles the one after it, up to the cap.
    mutating func next() -> Duration {
        let base = current
        current = min(current * 2, policy.maximumBackoff)
        let factor = 1 + Double.random(in: -policy.jitter...policy.jitter)
        return base * factor
    }

    mutating func reset() { current = policy.initialBackoff }
}
