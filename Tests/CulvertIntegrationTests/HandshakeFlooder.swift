// HandshakeFlooder: a bounded flood of WireGuard handshake initiations (stdlib Python, run inside a
// lab namespace) with a valid mac1 for the target's public key and no mac2 — what puts a WireGuard
// device under load. Shared by WireGuardCookieTests (against wireguard-go) and WireGuardLoadTests
// (against culvert-wireguard). Hand-written: no library sends such a flood.

import CulvertTesting
import Foundation

enum HandshakeFlooder {
    /// Bursts of 64 initiations of random content with a correct mac1 for the key in argv[1]
    /// (BLAKE2s-128 keyed with BLAKE2s("mac1----" ‖ key), over the first 116 bytes) and no mac2,
    /// sent to host:port, paced to `rate` a second when it is not 0, otherwise as fast as one
    /// process can. Prints "deep" after `lead` datagrams and "sent N" at the end; bounded by
    /// seconds and count.
    static let script = #"""
        import base64, hashlib, os, socket, sys, time
        key, host, port, seconds, maximum, lead, rate = base64.b64decode(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
        mac1_key = hashlib.blake2s(b"mac1----" + key).digest()
        messages = []
        for _ in range(64):
            body = b"\x01\x00\x00\x00" + os.urandom(112)
            messages.append(body + hashlib.blake2s(body, digest_size=16, key=mac1_key).digest() + bytes(16))
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        out.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        out.connect((host, port))
        send = out.send
        start = time.monotonic()
        end = start + seconds
        sent = 0
        announced = False
        while sent < maximum:
            for message in messages:
                try:
                    send(message)
                except OSError:
                    pass
            sent += len(messages)
            if not announced and sent >= lead:
                announced = True
                print("deep", flush=True)
            now = time.monotonic()
            if now >= end:
                break
            if rate > 0:
                pause = start + sent / rate - now
                if pause > 0:
                    time.sleep(pause)
        print("sent", sent, flush=True)
        """#

    /// Starts the flooder in `namespace` toward `host`:`port`, with a valid mac1 for `publicKey`
    /// (base64); `rate` 0: as fast as it can.
    static func start(
        in namespace: String, publicKey: String, host: String, port: Int, seconds: Int, maximum: Int, lead: Int, rate: Int = 0
    ) throws -> BackgroundCommand {
        try BackgroundCommand(
            [
                NetworkNamespacePair.ipCommand, "netns", "exec", namespace, "python3", "-c", script, publicKey, host, String(port),
                String(seconds), String(maximum), String(lead), String(rate),
            ])
    }
}
