// WireGuardConfiguration as profile options and secrets: what the provider reads, every refusal
// naming its option, and no key in any printed form.

import CulvertCore
import WireGuardConfig
import XCTest

final class WireGuardProfileTests: XCTestCase {
    private let options = [
        "address": "10.0.0.2/32", "peer.0.public-key": Fixture.peer0Public, "peer.0.allowed-ips": "0.0.0.0/0",
        "peer.0.endpoint": "192.0.2.1:51820",
    ]
    private let secrets = ["private-key": Fixture.privateKey, "peer.0.preshared-key": Fixture.peer0Preshared]

    func testOptionsRoundTripExactly() throws {
        let configuration = try WireGuardConfiguration(options: options, secrets: secrets)
        XCTAssertEqual(configuration.profileOptions, options)
        XCTAssertEqual(configuration.profileSecrets, secrets)
        XCTAssertEqual(configuration.peers.first?.presharedKey, Fixture.key(Fixture.peer0Preshared))
        XCTAssertEqual(configuration.peers.first?.endpoint?.description, "192.0.2.1:51820")
        XCTAssertTrue(WireGuardConfiguration.isProfileOption("peer.0.endpoint"))
        XCTAssertFalse(WireGuardConfiguration.isProfileOption("peer.0.preshared-key"))
        XCTAssertFalse(WireGuardConfiguration.isProfileOption("private-key"))
        XCTAssertFalse(WireGuardConfiguration.isProfileOption("peer.00.endpoint"))
    }

    func testEveryRefusalNamesTheOption() {
        func refusal(_ change: (inout [String: String], inout [String: String]) -> Void) -> WireGuardConfigError? {
            var options = self.options
            var secrets = self.secrets
            change(&options, &secrets)
            do throws(WireGuardConfigError) {
                _ = try WireGuardConfiguration(options: options, secrets: secrets)
                return nil
            } catch {
                return error
            }
        }
        XCTAssertEqual(refusal { _, s in s["private-key"] = nil }, .missingSecret("private-key"))
        XCTAssertEqual(refusal { o, _ in o["address"] = nil }, .missingOption("address"))
        XCTAssertEqual(
            refusal { o, _ in o["address"] = "" }, .invalidValue(option: "address", reason: "at least one address/prefix is required"))
        XCTAssertEqual(refusal { o, _ in o["endpoint"] = "x" }, .unknownOption("endpoint"))
        XCTAssertEqual(refusal { o, _ in o["private-key"] = Fixture.privateKey }, .unknownOption("private-key"))
        XCTAssertEqual(refusal { o, _ in o["peer.0.preshared-key"] = Fixture.peer0Preshared }, .unknownOption("peer.0.preshared-key"))
        XCTAssertEqual(refusal { o, _ in o["peer.01.endpoint"] = "1.2.3.4:5" }, .unknownOption("peer.01.endpoint"))
        XCTAssertEqual(refusal { _, s in s["token"] = "x" }, .unknownSecret("token"))
        XCTAssertEqual(refusal { o, _ in o["peer.2.public-key"] = Fixture.peer1Public }, .peersNotContiguous(missing: 1))
        XCTAssertEqual(refusal { _, s in s["peer.1.preshared-key"] = Fixture.peer0Preshared }, .missingOption("peer.1.public-key"))
        XCTAssertEqual(refusal { o, _ in o["peer.1.endpoint"] = "1.2.3.4:5" }, .missingOption("peer.1.public-key"))
        XCTAssertEqual(refusal { o, _ in o["peer.0.endpoint"] = "vpn.example.net:51820" }, .endpointIsHostName(option: "peer.0.endpoint"))
        XCTAssertEqual(
            refusal { o, _ in o["peer.0.persistent-keepalive"] = "0" },
            .invalidValue(option: "peer.0.persistent-keepalive", reason: "must be a whole number 1–65535"))
        XCTAssertEqual(refusal { o, _ in o["mtu"] = "70000" }, .invalidValue(option: "mtu", reason: "must be a whole number 576–65535"))
        XCTAssertEqual(
            refusal { o, _ in o["listen-port"] = "+5" }, .invalidValue(option: "listen-port", reason: "must be a whole number 1–65535"))
        XCTAssertEqual(
            refusal { o, _ in o["dns-search"] = "a..b" }, .invalidValue(option: "dns-search", reason: "entry 1 is not a domain name"))
        XCTAssertEqual(
            refusal { _, s in s["private-key"] = String(Fixture.privateKey.dropLast(2)) + "9=" },
            .invalidValue(option: "private-key", reason: "must be the base64 of exactly 32 bytes (as `wg genkey` prints)"))
        XCTAssertNil(refusal { o, _ in o["peer.0.allowed-ips"] = nil })
        XCTAssertNil(refusal { o, _ in o["peer.0.allowed-ips"] = "" })
    }

    func testNoKeyInAnyPrintedForm() throws {
        let configuration = try WgQuickParser.parse(Fixture.wg0)
        var dumped = ""
        dump(configuration, to: &dumped)
        let forms = [
            "\(configuration)", String(reflecting: configuration), dumped, "\(configuration.peers)", "\(configuration.interface)",
            String(reflecting: configuration.interface.privateKey),
        ]
        XCTAssertTrue(dumped.contains("10.8.0.2"), dumped)  // the test can see what it looks for
        for form in forms {
            for key in [Fixture.privateKey, Fixture.peer0Preshared, Fixture.peer0Public, Fixture.peer1Public] {
                XCTAssertFalse(form.contains(key.prefix(16)), form)
            }
            XCTAssertFalse(form.contains("32 elements"), form)  // a key's bytes, as dump would list them
        }
        XCTAssertTrue(dumped.contains("privateKey: WireGuardKey(redacted)"), dumped)
        var bad = secrets
        bad["peer.0.preshared-key"] = "!" + Fixture.privateKey.dropFirst()
        do throws(WireGuardConfigError) {
            _ = try WireGuardConfiguration(options: options, secrets: bad)
            XCTFail("accepted a bad key")
        } catch {
            XCTAssertFalse("\(error) \(String(reflecting: error))".contains(Fixture.privateKey.dropFirst().prefix(16)))
        }
    }

    func testKeysAreStrictBase64Of32Bytes() throws {
        let key = Fixture.key(Fixture.privateKey)
        XCTAssertEqual(key.bytes, Array(0..<32))
        XCTAssertEqual(key.base64, Fixture.privateKey)
        XCTAssertEqual(WireGuardKey(bytes: [UInt8](repeating: 0xFF, count: 32))?.base64, "//////////////////////////////////////////8=")
        for bad in [
            String(Fixture.privateKey.dropLast()), Fixture.privateKey + "=", String(Fixture.privateKey.dropLast(2)) + "9=",
            String(Fixture.privateKey.dropLast(2)) + "==", "-" + Fixture.privateKey.dropFirst(), "",
        ] {
            XCTAssertNil(WireGuardKey(base64: bad), bad)
        }
    }

    func testAddressesParseStrictlyAndPrintCanonically() {
        let canonical = [
            "2001:0DB8:0000:0000:0001:0000:0000:0001": "2001:db8::1:0:0:1", "::": "::", "::1": "::1", "1::": "1::",
            "::ffff:1.2.3.4": "::ffff:102:304", "1:0:0:2:0:0:0:3": "1:0:0:2::3", "1:2:3:4:5:6:7:8": "1:2:3:4:5:6:7:8",
            "0.0.0.0": "0.0.0.0", "255.255.255.255": "255.255.255.255",
        ]
        for (text, expected) in canonical { XCTAssertEqual(WireGuardIPAddress(text)?.description, expected, text) }
        for bad in [
            "1.2.3", "01.2.3.4", "1.2.3.256", "1.2.3.4.5", " 1.2.3.4", "1:2:3:4:5:6:7:8:9", ":::", "1::2::3", "fe80::1%eth0", "12345::",
            "1:2:3:4:5:6:7::8:9", "[::1]", "",
        ] {
            XCTAssertNil(WireGuardIPAddress(bad), bad)
        }
        XCTAssertEqual(WireGuardCIDR("10.0.0.1")?.description, "10.0.0.1/32")
        XCTAssertEqual(WireGuardCIDR("::/0")?.description, "::/0")
        for bad in ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1", "/8"] { XCTAssertNil(WireGuardCIDR(bad), bad) }
        XCTAssertEqual(WireGuardEndpoint.parse("[::1]:1").success?.description, "[::1]:1")
        for bad in ["1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4", "[::1]", "::1:5", "[1.2.3.4]:5", "1.2.3.4:05"] {
            XCTAssertEqual(WireGuardEndpoint.parse(bad).failure, .malformed, bad)
        }
        XCTAssertEqual(WireGuardEndpoint.parse("localhost:51820").failure, .hostName)
    }
}

extension Result {
    fileprivate var success: Success? {
        if case .success(let success) = self { return success }
        return nil
    }

    fileprivate var failure: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
