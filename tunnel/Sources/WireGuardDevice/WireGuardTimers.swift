// WireGuardTimers: the protocol's time and message limits (whitepaper §6.1, §6.4) as one value,
// `.standard` for real use and shortened sets for tests, so rekeying, rejection and key zeroing can
// be exercised in seconds of simulated (or real) time instead of minutes or 2^60 messages.

public struct WireGuardTimers: Sendable, Codable, Equatable {
    /// REKEY_AFTER_MESSAGES: the initiator starts a new handshake after sending this many.
    public var rekeyAfterMessages: UInt64
    /// REJECT_AFTER_MESSAGES: no counter at or above this is sent or accepted.
    public var rejectAfterMessages: UInt64
    /// REKEY_AFTER_TIME: the initiator starts a new handshake when its session is this old.
    public var rekeyAfterTime: Duration
    /// REJECT_AFTER_TIME: a session this old is neither used nor accepted.
    public var rejectAfterTime: Duration
    /// REKEY_ATTEMPT_TIME: give up retrying a handshake after this long.
    public var rekeyAttemptTime: Duration
    /// REKEY_TIMEOUT: resend an unanswered initiation after this (plus jitter).
    public var rekeyTimeout: Duration
    /// Up to this much random jitter is added to each REKEY_TIMEOUT.
    public var rekeyTimeoutJitter: Duration
    /// KEEPALIVE_TIMEOUT: send an empty packet after receiving data and sending nothing this long.
    public var keepaliveTimeout: Duration
    /// Keys (sessions, handshake state) are wiped after this long without a new session: 3×REJECT_AFTER_TIME.
    public var zeroKeysAfter: Duration

    public init(
        rekeyAfterMessages: UInt64, rejectAfterMessages: UInt64, rekeyAfterTime: Duration, rejectAfterTime: Duration,
        rekeyAttemptTime: Duration, rekeyTimeout: Duration, rekeyTimeoutJitter: Duration, keepaliveTimeout: Duration,
        zeroKeysAfter: Duration
    ) {
        self.rekeyAfterMessages = rekeyAfterMessages
        self.rejectAfterMessages = rejectAfterMessages
        self.rekeyAfterTime = rekeyAfterTime
        self.rejectAfterTime = rejectAfterTime
        self.rekeyAttemptTime = rekeyAttemptTime
        self.rekeyTimeout = rekeyTimeout
        self.rekeyTimeoutJitter = rekeyTimeoutJitter
        self.keepaliveTimeout = keepaliveTimeout
        self.zeroKeysAfter = zeroKeysAfter
    }

    /// The whitepaper's values.
    public static let standard = WireGuardTimers(
        rekeyAfterMessages: 1 << 60, rejectAfterMessages: UInt64.max - (1 << 13), rekeyAfterTime: .seconds(120),
        rejectAfterTime: .seconds(180), rekeyAttemptTime: .seconds(90), rekeyTimeout: .seconds(5),
        rekeyTimeoutJitter: .milliseconds(333), keepaliveTimeout: .seconds(10), zeroKeysAfter: .seconds(540))

    /// Everything a hundred times shorter, and message limits small enough to reach in a test
    /// (rekey after 1000 messages, reject after 2000). Never for real traffic.
    public static let shortened = WireGuardTimers(
        rekeyAfterMessages: 1000, rejectAfterMessages: 2000, rekeyAfterTime: .milliseconds(1200),
        rejectAfterTime: .milliseconds(1800), rekeyAttemptTime: .milliseconds(900), rekeyTimeout: .milliseconds(50),
        rekeyTimeoutJitter: .microseconds(3330), keepaliveTimeout: .milliseconds(100), zeroKeysAfter: .milliseconds(5400))

    /// The whitepaper's session lifetimes with `shortened`'s message limits and handshake retry
    /// times: in a test of seconds only REKEY_AFTER_MESSAGES (and REJECT_AFTER_MESSAGES) can end a
    /// session, and REKEY_TIMEOUT (which also spaces new initiations) does not hold a rekey back
    /// for 5 s while a flood runs into REJECT_AFTER_MESSAGES. Never for real traffic.
    public static let shortenedMessages: WireGuardTimers = {
        var timers = WireGuardTimers.standard
        timers.rekeyAfterMessages = shortened.rekeyAfterMessages
        timers.rejectAfterMessages = shortened.rejectAfterMessages
        timers.rekeyTimeout = shortened.rekeyTimeout
        timers.rekeyTimeoutJitter = shortened.rekeyTimeoutJitter
        timers.rekeyAttemptTime = shortened.rekeyAttemptTime
        return timers
    }()

    /// How many initiations are sent before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT.
    public var maxHandshakeAttempts: Int { Int(rekeyAttemptTime / rekeyTimeout) }

    /// The initiator renews a session it receives on when it is this old (§6.2):
    /// REJECT_AFTER_TIME − KEEPALIVE_TIMEOUT − REKEY_TIMEOUT.
    public var rekeyOnReceiveAfter: Duration { rejectAfterTime - keepaliveTimeout - rekeyTimeout }
}
