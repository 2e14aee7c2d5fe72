// WgQuickParser: the wg0.conf round trip, what it accepts the way wg-quick does, and every refusal
// with its typed error and line.

import CulvertCore
import WireGuardConfig
import XCTest

final class WgQuickParserTests: XCTestCase {
    func testWg0RoundTripsThroughProfileOptionsAndSecrets() throws {
        let configuration = try WgQuickParser.parse(Fixture.wg0)
        XCTAssertEqual(
            configuration.profileOptions,
            [
                "address": "10.8.0.2/24,fd00:8::2/64,10.9.0.2/32", "dns": "10.8.0.1,2001:db8::53", "dns-search": "corp.example.com,lan",
                "mtu": "1420", "listen-port": "51820",
                "peer.0.public-key": Fixture.peer0Public, "peer.0.endpoint": "192.0.2.10:51820", "peer.0.allowed-ips": "0.0.0.0/0,::/0",
                "peer.0.persistent-keepalive": "25",
                "peer.1.public-key": Fixture.peer1Public, "peer.1.endpoint": "[2001:db8::1]:4500", "peer.1.allowed-ips": "10.10.0.0/16",
            ])
        XCTAssertEqual(configuration.profileSecrets, ["private-key": Fixture.privateKey, "peer.0.preshared-key": Fixture.peer0Preshared])
        let reread = try WireGuardConfiguration(options: configuration.profileOptions, secrets: configuration.profileSecrets)
        XCTAssertEqual(reread, configuration)
        XCTAssertEqual(reread.profileOptions, configuration.profileOptions)
        XCTAssertEqual(reread.profileSecrets, configuration.profileSecrets)

        XCTAssertEqual(configuration.interface.privateKey.bytes, Array(0..<32))
        XCTAssertEqual(configuration.interface.addresses.map(\.prefixLength), [24, 64, 32])
        XCTAssertEqual(configuration.interface.dnsServers.map(\.description), ["10.8.0.1", "2001:db8::53"])
        XCTAssertEqual(configuration.interface.searchDomains, ["corp.example.com", "lan"])
        XCTAssertEqual(configuration.interface.mtu, 1420)
        XCTAssertEqual(configuration.interface.listenPort, 51820)
        XCTAssertEqual(configuration.peers.count, 2)
        XCTAssertEqual(configuration.peers[0].presharedKey, Fixture.key(Fixture.peer0Preshared))
        XCTAssertEqual(configuration.peers[0].persistentKeepalive, 25)
        XCTAssertNil(configuration.peers[1].presharedKey)
        XCTAssertNil(configuration.peers[1].persistentKeepalive)
        XCTAssertEqual(configuration.peers[1].endpoint?.port, 4500)
    }

    func testCommentsBlankLinesCRLFAndCaseInsensitivity() throws {
        let text =
            "  # leading comment\r\n\r\n[INTERFACE]  # trailing\r\nprivatekey=\(Fixture.privateKey)\r\n\tADDRESS\t=\t10.0.0.2/32#c\r\n"
        let configuration = try WgQuickParser.parse(text)
        XCTAssertEqual(configuration.interface.addresses.map(\.description), ["10.0.0.2/32"])
        XCTAssertEqual(configuration.peers, [])
    }

    func testEveryRefusalHasItsTypedErrorAndLine() {
        let cases: [(String, Int, WgQuickError.Kind)] = [
            (Fixture.minimal(interfaceExtra: "PostUp = iptables -A FORWARD -j ACCEPT"), 4, .runsCommand(key: "PostUp")),
            (Fixture.minimal(interfaceExtra: "preup = echo"), 4, .runsCommand(key: "preup")),
            (Fixture.minimal(interfaceExtra: "PreDown = echo"), 4, .runsCommand(key: "PreDown")),
            (Fixture.minimal(peerExtra: "PostDown = echo"), 7, .runsCommand(key: "PostDown")),
            (Fixture.minimal(interfaceExtra: "SaveConfig = false"), 4, .savesConfig),
            (Fixture.minimal(interfaceExtra: "SaveConfig = true"), 4, .savesConfig),
            (Fixture.minimal(interfaceExtra: "Table = 1234"), 4, .routingTable),
            (Fixture.minimal(interfaceExtra: "Table = main"), 4, .routingTable),
            (Fixture.minimal(interfaceExtra: "FwMark = 0x1234"), 4, .firewallMark),
            (Fixture.minimal(interfaceExtra: "Frobnicate = 1"), 4, .unknownKey(key: "Frobnicate", section: "Interface")),
            (Fixture.minimal(interfaceExtra: "Endpoint = 1.2.3.4:5"), 4, .unknownKey(key: "Endpoint", section: "Interface")),
            (Fixture.minimal(peerExtra: "Address = 10.0.0.1/32"), 7, .unknownKey(key: "Address", section: "Peer")),
            ("PrivateKey = \(Fixture.privateKey)\n[Interface]", 1, .keyOutsideSection("PrivateKey")),
            (Fixture.minimal(interfaceExtra: "[Wireguard]"), 4, .unknownSection("Wireguard")),
            (Fixture.minimal(interfaceExtra: "MTU = 1400\nmtu = 1300"), 5, .duplicateKey("mtu")),
            (Fixture.minimal(peerExtra: "Endpoint = 1.2.3.4:5\nEndpoint = 1.2.3.4:6"), 8, .duplicateKey("Endpoint")),
            (Fixture.minimal(interfaceExtra: "[Interface]"), 4, .duplicateInterface),
            (Fixture.minimal(interfaceExtra: "just words"), 4, .malformedLine),
            (Fixture.minimal(interfaceExtra: "[Interface"), 4, .malformedLine),
            (
                Fixture.minimal(interfaceExtra: "ListenPort = 65536"), 4,
                .invalidValue(key: "ListenPort", reason: "must be a whole number 1–65535")
            ),
            (
                Fixture.minimal(interfaceExtra: "ListenPort = 0"), 4,
                .invalidValue(key: "ListenPort", reason: "must be a whole number 1–65535")
            ),
            (Fixture.minimal(interfaceExtra: "MTU = 575"), 4, .invalidValue(key: "MTU", reason: "must be a whole number 576–65535")),
            (
                Fixture.minimal(interfaceExtra: "Address = 10.0.0.300/24"), 4,
                .invalidValue(key: "Address", reason: "entry 1 is not an IP address with an optional /prefix in range")
            ),
            (
                Fixture.minimal(peerExtra: "AllowedIPs = 10.0.0.0/8, 10.0.0.0/33"), 7,
                .invalidValue(key: "AllowedIPs", reason: "entry 2 is not an IP address with an optional /prefix in range")
            ),
            (
                Fixture.minimal(peerExtra: "PresharedKey = c2hvcnQ="), 7,
                .invalidValue(key: "PresharedKey", reason: "must be the base64 of exactly 32 bytes (as `wg genkey` prints)")
            ),
            (Fixture.minimal(peerExtra: "Endpoint = vpn.example.net:51820"), 7, .endpointIsHostName(key: "Endpoint")),
            (
                Fixture.minimal(peerExtra: "Endpoint = 2001:db8::1:51820"), 7,
                .invalidValue(key: "Endpoint", reason: "must be IPv4:port or [IPv6]:port with a port 1–65535")
            ),
            (
                Fixture.minimal(peerExtra: "PersistentKeepalive = 65536"), 7,
                .invalidValue(key: "PersistentKeepalive", reason: "must be a whole number 1–65535")
            ),
            (
                Fixture.minimal(interfaceExtra: "DNS = 1.1.1.1, bad domain"), 4,
                .invalidValue(key: "DNS", reason: "entry 2 is neither an IP address nor a domain")
            ),
            (
                "[Interface]\nPrivateKey = \(Fixture.privateKey)\n[Peer]\nPublicKey = \(Fixture.peer0Public)", 1,
                .missingKey(section: "Interface", key: "Address")
            ),
            ("[Interface]\nAddress = 10.0.0.1/32\n", 1, .missingKey(section: "Interface", key: "PrivateKey")),
            (Fixture.minimal() + "\n[Peer]\nAllowedIPs = 10.0.0.0/8\n[Peer]", 8, .missingKey(section: "Peer", key: "PublicKey")),
        ]
        for (text, line, kind) in cases {
            XCTAssertEqual(parseError(text), WgQuickError(line: line, kind), text)
        }
        XCTAssertEqual(parseError("[Peer]\nPublicKey = \(Fixture.peer0Public)\n"), WgQuickError(line: nil, .missingInterface))
        XCTAssertEqual(parseError(""), WgQuickError(line: nil, .missingInterface))
    }

    func testTableOffAutoAndZeroFwMarkAreAccepted() throws {
        for extra in ["Table = off", "table = AUTO", "FwMark = 0", "FwMark = 0x0", "fwmark = Off"] {
            XCTAssertNoThrow(try WgQuickParser.parse(Fixture.minimal(interfaceExtra: extra)), extra)
        }
    }

    func testErrorsNeverShowKeysOrValues() {
        // A key pasted on a line of its own, a bad private key, a secret in the wrong place.
        let pasted = Fixture.minimal(interfaceExtra: Fixture.peer0Preshared)
        let badKey = Fixture.minimal(interfaceExtra: "PrivateKey = \(Fixture.peer0Preshared.dropLast(2))==")
        let misplaced = Fixture.minimal(peerExtra: "AllowedIPs = \(Fixture.peer0Preshared)")
        let unknown = Fixture.minimal(interfaceExtra: "\(Fixture.peer0Preshared.dropLast()) = 1")
        for text in [pasted, badKey, misplaced, unknown] {
            let error = parseError(text)
            XCTAssertNotNil(error, text)
            let shown = error.map { "\($0) \(String(reflecting: $0))" } ?? ""
            XCTAssertFalse(shown.contains(Fixture.peer0Preshared.prefix(20)), shown)
            XCTAssertFalse(shown.contains(Fixture.privateKey.prefix(20)), shown)
        }
        XCTAssertEqual(parseError(unknown)?.kind, .unknownKey(key: "(a name not shown)", section: "Interface"))
        XCTAssertEqual(parseError(pasted)?.kind, .unknownKey(key: "(a name not shown)", section: "Interface"))
    }

    private func parseError(_ text: String) -> WgQuickError? {
        do throws(WgQuickError) {
            _ = try WgQuickParser.parse(text)
            return nil
        } catch {
            return error
        }
    }
}
