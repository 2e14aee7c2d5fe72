// WgQuickParser against hostile files and the profile limits: every refusal typed, none of them
// after reading more than the bounded input.

import CulvertCore
import WireGuardConfig
import XCTest

final class WgQuickLimitTests: XCTestCase {
    func testHostileBytesAreRefusedWithTheirLine() {
        let nul = "[Interface]\nPrivateKey = \(Fixture.privateKey)\nAddress = 10.0.0.1\u{0}/32\n"
        XCTAssertEqual(error(nul), WgQuickError(line: 3, .controlCharacter))
        XCTAssertEqual(error(bytes: Array(nul.utf8)), WgQuickError(line: 3, .controlCharacter))
        XCTAssertEqual(error("[Interface]\nAddress = 10.0.0.1\u{1B}[2J\n"), WgQuickError(line: 2, .controlCharacter))
        XCTAssertEqual(
            error(bytes: Array("[Interface]\n# caf".utf8) + [0xC3, 0x28] + Array("\n".utf8)), WgQuickError(line: 2, .invalidUTF8))
        XCTAssertEqual(error(bytes: [0xFF, 0xFE, 0x00]), WgQuickError(line: 1, .controlCharacter))
        XCTAssertEqual(error(bytes: [0xFF, 0xFE]), WgQuickError(line: 1, .invalidUTF8))
    }

    func testHugeInputIsRefusedBeforeParsing() {
        let tooLarge = String(repeating: "#", count: WgQuickParser.maximumInputBytes + 1)
        XCTAssertEqual(error(tooLarge), WgQuickError(line: nil, .inputTooLarge(maximum: 1 << 20)))
        XCTAssertEqual(error(bytes: Array(tooLarge.utf8)), WgQuickError(line: nil, .inputTooLarge(maximum: 1 << 20)))
        // One line just under the limit: refused as what it is, not by exhausting memory.
        let longLine = String(repeating: "a", count: WgQuickParser.maximumInputBytes - 100)
        XCTAssertEqual(error("[Interface]\n" + longLine), WgQuickError(line: 2, .malformedLine))
        XCTAssertEqual(
            error("[Interface]\nAddress = " + longLine),
            WgQuickError(line: 2, .invalidValue(key: "Address", reason: "entry 1 is not an IP address with an optional /prefix in range")))
        XCTAssertEqual(
            error("[Interface]\n" + longLine + " = 1"), WgQuickError(line: 2, .unknownKey(key: "(a name not shown)", section: "Interface")))
    }

    func testTenThousandPeersStopAtThe257th() {
        var text = "[Interface]\nPrivateKey = \(Fixture.privateKey)\nAddress = 10.0.0.2/32\n"
        for _ in 0..<10_000 { text += "[Peer]\nPublicKey = \(Fixture.peer0Public)\n" }
        XCTAssertGreaterThan(text.utf8.count, 500_000)
        XCTAssertEqual(error(text), WgQuickError(line: 4 + 2 * 256, .tooManyPeers(maximum: 256)))
    }

    func testConfigurationsThatDoNotFitAProfileNameTheLimit() {
        // Each peer takes two options (public-key, allowed-ips): 128 peers need 257.
        XCTAssertEqual(
            error(peers(128)),
            WgQuickError(
                line: nil, .profileLimit(.exceedsProfileLimit(limit: "maximumOptions", subject: "options", needed: 257, maximum: 256))))
        XCTAssertNoThrow(try WgQuickParser.parse(peers(127)))
        // Each preshared key is a secret, with the private key: 64 of them need 65.
        XCTAssertEqual(
            error(peers(64, extra: "PresharedKey = \(Fixture.peer0Preshared)\n")),
            WgQuickError(
                line: nil, .profileLimit(.exceedsProfileLimit(limit: "maximumSecrets", subject: "secrets", needed: 65, maximum: 64))))
        XCTAssertNoThrow(try WgQuickParser.parse(peers(63, extra: "PresharedKey = \(Fixture.peer0Preshared)\n")))
        // 300 AllowedIPs of 14 to 16 bytes each: an option value over 4,096 bytes.
        let allowed = (0..<300).map { "192.168.\($0 % 256).0/24" }
        let longValue = allowed.joined(separator: ",").utf8.count
        XCTAssertGreaterThan(longValue, ProfileLimits.maximumOptionValueLength)
        XCTAssertEqual(
            error(Fixture.minimal(peerExtra: allowed.map { "AllowedIPs = \($0)" }.joined(separator: "\n"))),
            WgQuickError(
                line: nil,
                .profileLimit(
                    .exceedsProfileLimit(
                        limit: "maximumOptionValueLength", subject: "option peer.0.allowed-ips", needed: longValue, maximum: 4096))))
        let tooMany = Array(repeating: "::/0", count: WgQuickParser.maximumListEntries + 1).joined(separator: ",")
        XCTAssertEqual(
            error(Fixture.minimal(peerExtra: "AllowedIPs = \(tooMany)")),
            WgQuickError(line: 7, .tooManyEntries(key: "AllowedIPs", maximum: WgQuickParser.maximumListEntries)))
        XCTAssertTrue(String(describing: error(peers(128))).contains("ProfileLimits.maximumOptions"))
    }

    private func peers(_ count: Int, extra: String = "") -> String {
        var text = "[Interface]\nPrivateKey = \(Fixture.privateKey)\nAddress = 10.0.0.2/32\n"
        for index in 0..<count { text += "[Peer]\nPublicKey = \(Fixture.peer0Public)\nAllowedIPs = 10.1.\(index).0/24\n" + extra }
        return text
    }

    private func error(_ text: String) -> WgQuickError? {
        do throws(WgQuickError) {
            _ = try WgQuickParser.parse(text)
            return nil
        } catch {
            return error
        }
    }

    private func error(bytes: [UInt8]) -> WgQuickError? {
        do throws(WgQuickError) {
            _ = try WgQuickParser.parse(bytes: bytes)
            return nil
        } catch {
            return error
        }
    }
}
