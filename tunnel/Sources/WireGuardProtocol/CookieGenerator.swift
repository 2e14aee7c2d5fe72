// CookieGenerator: the sender's side of mac1/mac2 (whitepaper §5.4.4): stamps mac1 on every
// handshake message it sends, remembers that mac1 so a cookie reply can be checked against it, and
// adds mac2 while a cookie from the peer is less than two minutes old. Pure: `now` is passed in.
import WireGuardCrypto

public struct CookieGenerator: Sendable {
    /// How long a received cookie is used for mac2.
    public static let cookieLifetime: Duration = .seconds(120)

    private let mac1Key: SecretKey
    private let cookieCipher: XChaCha20Poly1305
    var lastMAC1: MAC16?
    var cookie: MAC16?
    var cookieSetAt: Duration = .zero

    /// For messages sent to the peer whose static public key is `remotePublicKey`.
    public init(remotePublicKey: PublicKey) {
        mac1Key = CookieLabel.key(CookieLabel.mac1, remotePublicKey)
        cookieCipher = XChaCha20Poly1305(key: CookieLabel.key(CookieLabel.cookie, remotePublicKey))
    }

    /// Whether a cookie is fresh enough to be used for mac2 at `now`.
    public func hasCookie(now: Duration) -> Bool {
        cookie != nil && now >= cookieSetAt && now - cookieSetAt < Self.cookieLifetime
    }

    /// Sets mac1, and mac2 when a fresh cookie is held (zero otherwise).
    public mutating func addMACs<M: HandshakeMessage>(to message: inout M, now: Duration) {
        message.mac1 = .zero
        message.mac2 = .zero
        let mac1 = message.withSerialized { CookieChecker.mac(key: mac1Key, $0.slice(0, M.mac1Offset)) }
        message.mac1 = mac1
        lastMAC1 = mac1
        guard hasCookie(now: now), let cookie else { return }
        message.mac2 = message.withSerialized { raw in
            cookie.withUnsafeBytes { key in try! BLAKE2s.mac(key: key, raw.slice(0, M.mac2Offset)) }  // 16-byte key
        }
    }

    /// Opens a cookie reply to the last message stamped; on success mac2 is added from now on.
    public mutating func consume(_ reply: CookieReply, now: Duration) throws(HandshakeError) {
        guard let lastMAC1 else { throw .unexpectedCookieReply }
        var buffer = reply.encryptedCookie
        let opened = reply.nonce.withUnsafeBytes { nonce in
            lastMAC1.withUnsafeBytes { ad in
                buffer.withUnsafeMutableBytes { raw in
                    Result { () throws(CryptoError) in
                        try cookieCipher.open(inPlace: raw, ciphertextCount: raw.count, nonce: nonce, authenticating: ad)
                    }
                }
            }
        }
        guard case .success(MAC16.byteCount) = opened else { throw .cookieDecryptionFailed }
        cookie = buffer.withUnsafeBytes { try! MAC16(copying: $0.slice(0, MAC16.byteCount)) }  // 16 bytes opened
        cookieSetAt = now
    }
}
