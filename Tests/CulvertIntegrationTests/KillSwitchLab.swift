// KillSwitchLab: a TunnelLab with an observer for the kill switch's acceptance tests. Besides the
// lab's veth (which carries the tunnel's UDP) a second veth pair joins A and B, and only
// off-tunnel application traffic could ever use it:
//
//   A: ks-a (only fe80::a, for neighbour discovery; A's kernel sends nothing on it by itself)
//      routes 10.98.0.0/24 and fd98::/64 dev ks-a; fd97::1/128 on lo as an IPv6 source
//   B: ks-b 10.98.0.2/24, fd98::2/64 — its receive counter is the observer: every packet A sends
//      there (an echo request, an ARP or neighbour solicitation for it) counts as a leak.
//
// `probe` pings both off-tunnel addresses once from A; `prober` keeps doing so in a loop while a
// test crashes, upgrades or restarts things, together with the IPv4 flows that name their output
// device (the hole routing alone leaves, closed by the nftables table): `nobody` sending UDP with
// SO_BINDTODEVICE and with IP_UNICAST_IF to ks-a, and `ping -I ks-a`.

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class KillSwitchLab {
    static let offTunnelIPv4 = "10.98.0.2"
    static let offTunnelIPv6 = "fd98::2"
    /// One UDP datagram to the observer with SO_BINDTODEVICE (25) and one with IP_UNICAST_IF (50),
    /// both naming ks-a; a refused send is printed, not fatal. No single quotes (it goes into sh).
    static let deviceBoundSender = """
        import socket, struct
        for option in (25, 50):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                if option == 25:
                    s.setsockopt(socket.SOL_SOCKET, 25, b"ks-a")
                else:
                    s.setsockopt(socket.IPPROTO_IP, 50, struct.pack("!I", socket.if_nametoindex("ks-a")))
                s.sendto(b"leak", ("\(offTunnelIPv4)", 9))
            except OSError as error:
                print("refused", option, error)
        """
    /// Debian's python3 (install-deps), which `nobody` may run (a toolchain's pyenv shim is root's).
    static let python = "/usr/bin/python3"
    /// The device-bound senders as `nobody` (SO_BINDTODEVICE needs no privilege since Linux 5.7).
    static let unprivilegedSender = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", python, "-c", deviceBoundSender]
    /// The off-tunnel probe loop: one IPv4 and one IPv6 ping per round (each gives up after 1 s),
    /// printing "reached" for every reply, then the device-bound ping and senders (only the
    /// observer can count those).
    static let proberScript = """
        while :; do
          ping -n -c 1 -W 1 \(offTunnelIPv4) >/dev/null 2>&1 && echo reached
          ping -6 -n -c 1 -W 1 \(offTunnelIPv6) >/dev/null 2>&1 && echo reached
          \(boundPing.joined(separator: " ")) >/dev/null 2>&1
          \(unprivilegedSender.dropLast().joined(separator: " ")) '\(deviceBoundSender)' >/dev/null 2>&1
          sleep 0.05
        done
        """

    let lab: TunnelLab

    init(test: XCTestCase) throws {
        lab = try TunnelLab(test: test)
        let a = lab.namespaces.a
        let b = lab.namespaces.b
        let n = lab.namespaces
        try n.ip(in: a, ["link", "add", "ks-a", "type", "veth", "peer", "name", "ks-b", "netns", b])
        // A's end sends nothing by itself once set up: no generated address, no router
        // solicitation, and the MLD reports of its one link-local address (needed for neighbour
        // discovery) all go out at once when it is added (interval 0 = one jiffy), long before a
        // test takes its count.
        let sysctl = try n.exec(
            in: a,
            [
                "sysctl", "-qw", "net.ipv6.conf.ks-a.addr_gen_mode=1", "net.ipv6.conf.ks-a.router_solicitations=0",
                "net.ipv6.conf.ks-a.mldv2_unsolicited_report_interval=0", "net.ipv6.conf.ks-a.mldv1_unsolicited_report_interval=0",
            ])
        XCTAssertEqual(sysctl.status, 0, sysctl.error)
        try n.ip(in: b, ["addr", "add", "10.98.0.2/24", "dev", "ks-b"])
        try n.ip(in: b, ["addr", "add", "fd98::2/64", "dev", "ks-b", "nodad"])
        try n.ip(in: a, ["addr", "add", "fd97::1/128", "dev", "lo"])
        try n.ip(in: b, ["link", "set", "ks-b", "up"])
        try n.ip(in: a, ["link", "set", "ks-a", "up"])
        try n.ip(in: a, ["addr", "add", "fe80::a/64", "dev", "ks-a", "nodad"])
        try n.ip(in: a, ["route", "add", "10.98.0.0/24", "dev", "ks-a"])
        try n.ip(in: a, ["-6", "route", "add", "fd98::/64", "dev", "ks-a"])
    }

    /// Packets B received on ks-b so far.
    func observed() throws -> Int {
        let text = try lab.namespaces.ip(in: lab.namespaces.b, ["-s", "-j", "link", "show", "dev", "ks-b"])
        let links = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]
        let stats = links?.first?["stats64"] as? [String: Any]
        let received = (stats?["rx"] as? [String: Any])?["packets"] as? Int
        return try XCTUnwrap(received, text)
    }

    /// One ping to each off-tunnel address from A: (IPv4 replied, IPv6 replied).
    func probe() throws -> (ipv4: Bool, ipv6: Bool) {
        let v4 = try lab.inA(["ping", "-n", "-c", "1", "-W", "1", Self.offTunnelIPv4])
        let v6 = try lab.inA(["ping", "-6", "-n", "-c", "1", "-W", "1", Self.offTunnelIPv6])
        return (v4.status == 0, v6.status == 0)
    }

    /// Proves the observer sees what A sends off the tunnel while no kill switch is held: each
    /// family's probe moves the counter. Returns the count after.
    func checkObserverSeesLeaks() throws -> Int {
        let start = try observed()
        _ = try lab.inA(["ping", "-n", "-c", "1", "-W", "1", Self.offTunnelIPv4])
        let afterIPv4 = try observed()
        XCTAssertGreaterThan(afterIPv4, start, "an IPv4 probe without the kill switch must reach the observer")
        _ = try lab.inA(["ping", "-6", "-n", "-c", "1", "-W", "1", Self.offTunnelIPv6])
        let afterIPv6 = try observed()
        XCTAssertGreaterThan(afterIPv6, afterIPv4, "an IPv6 probe without the kill switch must reach the observer")
        let sent = try lab.inA(Self.unprivilegedSender)
        XCTAssertEqual(sent.status, 0, sent.error)
        let afterBound = try observed()
        XCTAssertGreaterThanOrEqual(afterBound, afterIPv6 + 2, "both device-bound datagrams must reach the observer: \(sent.output)")
        _ = try lab.inA(Self.boundPing)
        XCTAssertGreaterThan(try observed(), afterBound, "ping -I without the kill switch must reach the observer")
        // The probes left neighbour entries on both ends that would otherwise be re-confirmed
        // 5 s later (DELAY → PROBE: a link-local NS/NA no application sent). Forget them.
        for (namespace, device) in [(lab.namespaces.a, "ks-a"), (lab.namespaces.b, "ks-b")] {
            for family in ["-4", "-6"] { try lab.namespaces.ip(in: namespace, [family, "neigh", "flush", "dev", device]) }
        }
        return try observed()
    }

    /// `ping -I ks-a` to the observer. It never gets a reply, even without the kill switch: A has
    /// no IPv4 address on ks-a, so B answers through the lab's veth, and a socket bound to ks-a
    /// does not receive that. The observer's counter is what counts.
    static let boundPing = ["ping", "-n", "-c", "1", "-W", "1", "-I", "ks-a", offTunnelIPv4]

    /// The device-bound probes once: `nobody`'s two datagrams and `ping -I ks-a`. Returns how far
    /// the observer's counter moved.
    func deviceBoundProbe() throws -> Int {
        let before = try observed()
        let sent = try lab.inA(Self.unprivilegedSender)
        XCTAssertEqual(sent.status, 0, sent.error)
        _ = try lab.inA(Self.boundPing)
        return try observed() - before
    }

    /// Whether A has the kill switch's nftables table: a GETTABLE request over raw netlink from
    /// python3 (the nft CLI is not a dependency). "present", "absent" or "error N".
    func firewallTable() throws -> String {
        let script = """
            import socket, struct
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
            name = b"culvert_killswitch\\0"
            attribute = struct.pack("=HH", 4 + len(name), 1) + name
            attribute += b"\\0" * ((4 - len(attribute) % 4) % 4)
            payload = struct.pack("=BBH", 1, 0, 0) + attribute
            s.send(struct.pack("=IHHII", 16 + len(payload), (10 << 8) | 1, 1 | 4, 1, 0) + payload)
            answer = s.recv(65536)
            kind = struct.unpack("=H", answer[4:6])[0]
            if kind == 2:
                error = struct.unpack("=i", answer[16:20])[0]
                print("absent" if error == -2 else "error %d" % error)
            else:
                print("present" if kind == (10 << 8) else "unexpected %d" % kind)
            """
        let result = try lab.inA(["python3", "-c", script])
        XCTAssertEqual(result.status, 0, result.error)
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts the probe loop in A; `stop` it to get how many probes got a reply.
    func prober(_ name: String) throws -> Prober {
        let output = lab.directory.path + "/prober-\(name).log"
        let process = try lab.namespaces.spawn(in: lab.namespaces.a, ["/bin/sh", "-c", Self.proberScript], output: output)
        return Prober(process: process, output: output)
    }

    struct Prober {
        let process: Process
        let output: String

        /// Stops the loop; returns the number of probes that got through (each printed "reached").
        func stop() -> Int {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""  // try?: no output, nothing reached
            return text.split(separator: "\n").filter { $0 == "reached" }.count
        }
    }

    /// A tunnel ping from A to what lies behind the peer (only reachable through the tunnel).
    func tunnelWorks() throws -> Bool {
        try lab.inA(["ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", TunnelLab.behindPeer]).status == 0
    }

    /// The kill switch's rules in A (priority band 32600–32690), as `ip rule` lines.
    func killSwitchRules() throws -> [String] {
        let rules =
            try lab.namespaces.ip(in: lab.namespaces.a, ["rule", "show"]) + lab.namespaces.ip(in: lab.namespaces.a, ["-6", "rule", "show"])
        return rules.split(separator: "\n").map(String.init).filter {
            guard let priority = Int($0.prefix { $0 != ":" }) else { return false }
            return (32_600...32_690).contains(priority)
        }
    }

    /// `session.killSwitch` of profile `name` in GetStatus, through `connection`.
    static func held(_ name: String, connection: VarlinkClientConnection) throws -> Bool? {
        let status = try connection.call("io.culvert.Manager.GetStatus", [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        guard case .array(let sessions)? = status["status"]?["sessions"] else { return nil }
        return sessions.first { $0["profile"]?.stringValue == name }?["killSwitch"]?.boolValue
    }
}
