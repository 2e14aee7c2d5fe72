// CookieGenerator and CookieChecker, handover: the cookie state a provider's next version needs
// to carry on (the responder's rotating secret; the initiator's last mac1 and received cookie), read
// and restored as plain values. Times are on the caller's monotonic clock; the device rebases them.
import WireGuardCrypto

extension CookieGenerator {
    /// What a sender keeps between handshake messages: the mac1 a cookie reply must match, and the
    /// cookie for mac2 (not secret on the wire, but only useful with the handshake it came for).
    public struct HandoverCookie: Sendable {
        public var lastMAC1: MAC16?
        public var cookie: MAC16?

        public init(lastMAC1: MAC16? = nil, cookie: MAC16? = nil) {
            self.lastMAC1 = lastMAC1
            self.cookie = cookie
        }
    }

    /// The state to hand over and when the cookie was received.
    public var handoverCookie: (cookie: HandoverCookie, setAt: Duration) {
        (HandoverCookie(lastMAC1: lastMAC1, cookie: cookie), cookieSetAt)
    }

    /// Restores what `handoverCookie` gave (the time already rebased onto this process's clock).
    public mutating func restore(_ state: HandoverCookie, setAt: Duration) {
        lastMAC1 = state.lastMAC1
        cookie = state.cookie
        cookieSetAt = setAt
    }
}

extension CookieChecker {
    /// The responder's cookie secret (a secret: never log it) and when it was made.
    public var handoverSecret: (secret: SecretKey?, setAt: Duration) { (secret, secretSetAt) }

    /// Restores what `handoverSecret` gave (the time already rebased onto this process's clock).
    public mutating func restoreSecret(_ secret: SecretKey?, setAt: Duration) {
        self.secret = secret
        secretSetAt = setAt
    }
}
