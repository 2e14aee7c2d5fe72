// TransportSniffer: the stdlib-Python tap that catches the first WireGuard transport message
// carrying data from one address to another's port as it leaves a veth (ETH_P_ALL: only such a
// tap sees outgoing frames) — one copy of the loop WireGuardRoamingTests' attacker and
// WireGuardTimerTests' capturer each carried. Hand-written: no library sniffs WireGuard frames.

enum TransportSniffer {
    /// Defines `first_transport(iface, b, a, port, seconds, on_ready=None)`: the first UDP payload
    /// from `b` to `a`:`port` seen on `iface` that is a transport message with data (type 4, over
    /// 32 bytes), or None after `seconds`; `on_ready` is called once the tap listens.
    static let prelude = #"""
        import socket, struct, time
        def first_transport(iface, b, a, port, seconds, on_ready=None):
            sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
            sniff.bind((iface, 0))
            sniff.settimeout(0.2)
            if on_ready:
                on_ready()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    frame = sniff.recv(65535)
                except socket.timeout:
                    continue
                ip = frame[14:]
                if frame[12:14] != b"\x08\x00" or len(ip) < 28 or ip[9] != 17:
                    continue
                ihl = (ip[0] & 15) * 4
                dport = struct.unpack("!H", ip[ihl + 2:ihl + 4])[0]
                payload = ip[ihl + 8:]
                if socket.inet_ntoa(ip[12:16]) != b or socket.inet_ntoa(ip[16:20]) != a or dport != port:
                    continue
                if len(payload) > 32 and payload[0] == 4:
                    return payload
            return None
        """#

    /// `body` (top-level Python) with `first_transport` defined before it.
    static func script(_ body: String) -> String { prelude + "\n" + body }
}
