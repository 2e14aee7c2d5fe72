// CookieChecker: the responder's side of WireGuard's DoS defence (whitepaper §5.3, §5.4.4, §5.4.7).
// mac1 proves the sender knows our static public key; under load, mac2 proves it can receive at its
// source address, via a cookie we sent it: τ = MAC(R, source) with a secret R that rotates every
// two minutes. Pure: `now` is a monotonic time passed in, randomness comes from a generator.
import WireGuardCrypto

/// The labels of §5.4.4, shared with CookieGenerator.
enum CookieLabel {
    static let mac1 = Array("mac1----".utf8)
    static let cookie = Array("cookie--".utf8)

    /// HASH(label || public key).
    static func key(_ label: [UInt8], _ publicKey: PublicKey) -> SecretKey {
        label.withUnsafeBytes { l in publicKey.withUnsafeBytes { BLAKE2s.hash(l, $0) } }
    }
}

public struct CookieChecker: Sendable {
    /// How long a cookie secret (and so a cookie) is good for.
    public static let secretLifetime: Duration = .seconds(120)

    private let mac1Key: SecretKey
    private let cookieCipher: XChaCha20Poly1305
    var secret: SecretKey?
    var secretSetAt: Duration = .zero

    /// For messages addressed to the static key `localPublicKey`.
    public init(localPublicKey: PublicKey) {
        mac1Key = CookieLabel.key(CookieLabel.mac1, localPublicKey)
        cookieCipher = XChaCha20Poly1305(key: CookieLabel.key(CookieLabel.cookie, localPublicKey))
    }

    /// Whether mac1 = MAC(HASH("mac1----" || our public key), message up to mac1).
    public func checkMAC1(_ message: some HandshakeMessage) -> Bool {
        let type = type(of: message)
        return message.withSerialized { raw in
            Self.mac(key: mac1Key, raw.slice(0, type.mac1Offset)) == message.mac1
        }
    }

    /// Whether mac2 is MAC(τ, message up to mac2) for the cookie `source` would hold now. False when
    /// the secret is older than `secretLifetime` (or none was made yet): answer with a cookie.
    public func checkMAC2(_ message: some HandshakeMessage, source: [UInt8], now: Duration) -> Bool {
        guard let cookie = currentCookie(source: source, now: now) else { return false }
        let type = type(of: message)
        return message.withSerialized { raw in
            cookie.withUnsafeBytes { key in try! BLAKE2s.mac(key: key, raw.slice(0, type.mac2Offset)) } == message.mac2  // 16-byte key
        }
    }

    /// What to do with a handshake message whose mac1 is good.
    public enum Verdict: Sendable, Equatable {
        /// Process the handshake.
        case accept
        /// Under load without a valid mac2: answer with `makeReply` instead of processing it.
        case sendCookie
    }

    /// The responder's gate for every handshake message: `.invalidMAC1` drops it; under load a
    /// message without a current mac2 gets a cookie reply rather than a (costly) handshake.
    public func verify(_ message: some HandshakeMessage, source: [UInt8], now: Duration, underLoad: Bool) throws(HandshakeError)
        -> Verdict
    {
        guard checkMAC1(message) else { throw .invalidMAC1 }
        guard underLoad else { return .accept }
        return checkMAC2(message, source: source, now: now) ? .accept : .sendCookie
    }

    /// The cookie reply for `message` (whose sender index is `receiverIndex`) from `source`,
    /// rotating the secret first when it has expired. The generator supplies the secret and the nonce.
    public mutating func makeReply(
        to message: some HandshakeMessage, receiverIndex: UInt32, source: [UInt8], now: Duration,
        using generator: inout some RandomNumberGenerator
    ) -> CookieReply {
        if currentCookie(source: source, now: now) == nil {
            secret = .random(using: &generator)
            secretSetAt = now
        }
        let cookie = currentCookie(source: source, now: now)!  // set just above when absent
        var nonce = [UInt8](repeating: 0, count: XChaCha20Poly1305.nonceCount)
        for index in nonce.indices { nonce[index] = UInt8.random(in: .min ... .max, using: &generator) }
        var sealed = cookie.bytes + [UInt8](repeating: 0, count: XChaCha20Poly1305.tagCount)
        nonce.withUnsafeBytes { nonceRaw in
            message.mac1.withUnsafeBytes { ad in
                sealed.withUnsafeMutableBytes { raw in
                    // Cannot fail: 24-byte nonce and room for the tag.
                    _ = try! cookieCipher.seal(inPlace: raw, plaintextCount: MAC16.byteCount, nonce: nonceRaw, authenticating: ad)
                }
            }
        }
        return CookieReply(receiverIndex: receiverIndex, nonce: nonce, encryptedCookie: sealed)
    }

    private func currentCookie(source: [UInt8], now: Duration) -> MAC16? {
        guard let secret, now - secretSetAt < Self.secretLifetime, now >= secretSetAt else { return nil }
        return source.withUnsafeBytes { Self.mac(key: secret, $0) }
    }

    static func mac(key: SecretKey, _ data: UnsafeRawBufferPointer) -> MAC16 {
        key.withUnsafeBytes { try! BLAKE2s.mac(key: $0, data) }  // a 32-byte key is always valid
    }
}
