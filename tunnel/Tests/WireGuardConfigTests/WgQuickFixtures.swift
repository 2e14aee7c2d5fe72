// Keys and files the WireGuardConfig tests share. The keys are fixed byte patterns, not real keys.

import WireGuardConfig

enum Fixture {
    static let privateKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    static let peer0Public = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
    static let peer0Preshared = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8="
    static let peer1Public = "YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8="

    /// A typical wg-quick file: comments, mixed case, repeated Address, DNS with search domains,
    /// two peers, one full tunnel.
    static let wg0 = """
        # wg0: office
        [Interface]
        PrivateKey = \(privateKey)
        Address = 10.8.0.2/24, fd00:8::2/64
        address = 10.9.0.2   # a second Address line, bare (/32)
        DNS = 10.8.0.1, corp.example.com, 2001:DB8:0:0:0:0:0:53
        DNS = lan
        MTU = 1420
        ListenPort = 51820
        Table = auto
        FwMark = off

        [Peer]
        # the office gateway
        PublicKey = \(peer0Public)
        PresharedKey = \(peer0Preshared)
        Endpoint = 192.0.2.10:51820
        AllowedIPs = 0.0.0.0/0
        allowedips = ::/0
        PersistentKeepalive = 25

        [peer]
        PUBLICKEY = \(peer1Public)
        Endpoint = [2001:db8::1]:4500
        AllowedIPs = 10.10.0.0/16
        PersistentKeepalive = off

        """

    static func key(_ text: String) -> WireGuardKey {
        // Non-nil: only called with the fixed keys above.
        WireGuardKey(base64: text)!
    }

    /// A minimal valid file followed by `extra` lines (in the section `section` is opened with).
    static func minimal(interfaceExtra: String = "", peerExtra: String = "") -> String {
        """
        [Interface]
        PrivateKey = \(privateKey)
        Address = 10.0.0.2/32
        \(interfaceExtra)
        [Peer]
        PublicKey = \(peer0Public)
        \(peerExtra)
        """
    }
}
