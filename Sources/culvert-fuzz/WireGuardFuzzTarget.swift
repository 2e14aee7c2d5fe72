// The WireGuard provider's fuzz target: a datagram from the network into a device with one peer
// (WireGuardDevice.receive: message classification, the handshake parsers, mac1/cookie checks,
// transport decryption). Checks a property, so a wrong answer is found, not only a crash: bytes
// nobody holding a key produced never come out as an inner packet and never as an authenticated peer.

import CulvertCore
import WireGuardCrypto
import WireGuardDevice

enum WireGuardFuzzTarget {
    /// Fixed keys: the fuzzer cannot know the private ones, as no attacker on the network can.
    private static let localKey = [UInt8](repeating: 0x11, count: 32)
    private static let peerKey = [UInt8](repeating: 0x22, count: 32)

    static func datagram(_ bytes: [UInt8]) {
        // try!: fixed 32-byte keys always make keys.
        let local = PrivateKey(clamping: try! SecretKey(bytes: localKey))
        let peer = PrivateKey(clamping: try! SecretKey(bytes: peerKey))  // as above
        let source = Endpoint(address: IPAddress(10, 0, 0, 2), port: 51820)
        var device = WireGuardDevice(
            configuration: DeviceConfiguration(
                privateKey: local,
                peers: [PeerConfiguration(publicKey: peer.publicKey, endpoint: source, allowedIPs: [IPPrefix(IPAddress(0, 0, 0, 0), 0)!])]))
        var generator = SeededRandomNumberGenerator(seed: 1)  // the same input takes the same path on every run
        // Set by hand off and on, then decided by a load decision whose threshold every mac1-valid message crosses.
        for (underLoad, load) in [(false, nil), (true, nil), (false, HandshakeLoad(threshold: 0))] as [(Bool, HandshakeLoad?)] {
            device.underLoad = underLoad
            device.handshakeLoad = load
            let (packet, result) = device.receive(bytes, from: source, now: .seconds(1), using: &generator)
            precondition(packet == nil && result.packet == nil, "forged bytes came out as an inner packet")
            if result.dropped == nil {
                // Only a handshake initiation from the peer could pass without a drop, and only with
                // the peer's private key; anything else that passed is a forgery.
                precondition(result.peer == nil, "forged bytes were attributed to a peer")
            }
        }
    }
}
