// The kill switch fields of a profile: PrefixText (hand-written, CulvertCore has no inet_pton),
// validation of the exceptions, and stored profiles from before the kill switch decoding as off.

import CulvertCore
import Foundation
import XCTest

final class ProfileKillSwitchTests: XCTestCase {
    func testPrefixTextAcceptsNetworkPrefixesOnly() {
        let accepted: [(String, Bool, Int)] = [
            ("192.168.1.0/24", false, 24), ("0.0.0.0/0", false, 0), ("10.0.0.1/32", false, 32), ("fe80::/10", true, 10),
            ("::/0", true, 0), ("fd00:1:2:3::/64", true, 64), ("2001:db8::1/128", true, 128), ("1:2:3:4:5:6:7:8/128", true, 128),
            ("::1/128", true, 128), ("1::/16", true, 16),
        ]
        for (text, isIPv6, length) in accepted {
            let parsed = PrefixText(text)
            XCTAssertEqual(parsed?.isIPv6, isIPv6, text)
            XCTAssertEqual(parsed?.length, length, text)
        }
        XCTAssertEqual(PrefixText("fd00:1::/32")?.bytes, [0xfd, 0, 0, 1] + [UInt8](repeating: 0, count: 12))
        let refused = [
            "", "192.168.1.0", "192.168.1.1/24", "256.0.0.0/8", "1.2.3/24", "1.2.3.4.5/32", "1.2.3.4/33", "1.2.3.4/-1", "1.2.3.4/ 8",
            "fe80::1/10", "::/129", "1:::2/64", "1::2::3/64", "1:2:3:4:5:6:7:8:9/128", "12345::/16", "::ffff:1.2.3.4/128",
            "fe80::%eth0/64", "g::/16", "+1::/16", "1.2.3.4/24/8", "01234.0.0.0/8", String(repeating: "1", count: 70) + "/8",
        ]
        for text in refused { XCTAssertNil(PrefixText(text), text) }
    }

    func testExceptionsAreValidatedAndBounded() {
        func reason(_ allow: [String]) -> String? {
            let profile = Profile(name: "p", extensionIdentifier: "io.x", killSwitch: true, killSwitchAllow: allow)
            do {
                try ProfileValidation.validate(profile: profile, secrets: nil)
                return nil
            } catch {
                return "\(error.field):\(error.reason.rawValue)"
            }
        }
        XCTAssertNil(reason(["192.168.1.0/24", "fd00::/8"]))
        XCTAssertEqual(reason(["192.168.1.0/24", "192.168.1.1/24"]), "killSwitchAllow[1]:invalid_prefix")
        XCTAssertEqual(reason(["office"]), "killSwitchAllow[0]:invalid_prefix")
        let many = (0...ProfileLimits.maximumKillSwitchAllow).map { "10.\($0).0.0/16" }
        XCTAssertEqual(reason(many), "killSwitchAllow:too_many")
        XCTAssertNil(reason(Array(many.dropLast())))
    }

    func testStoredProfilesWithoutTheFieldsReadAsOffAndOffIsNotWritten() throws {
        let old = #"{"name":"p","extension":"io.x","options":{},"alwaysOn":true,"secretNames":[]}"#
        let decoded = try JSONDecoder().decode(Profile.self, from: Data(old.utf8))
        XCTAssertEqual(decoded, Profile(name: "p", extensionIdentifier: "io.x", alwaysOn: true))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        XCTAssertEqual(
            String(decoding: try encoder.encode(decoded), as: UTF8.self),
            #"{"alwaysOn":true,"extension":"io.x","name":"p","options":{},"secretNames":[]}"#)
        let held = Profile(name: "p", extensionIdentifier: "io.x", killSwitch: true, killSwitchAllow: ["10.0.0.0/8"])
        let text = String(decoding: try encoder.encode(held), as: UTF8.self)
        XCTAssertTrue(text.contains(#""killSwitch":true,"killSwitchAllow":["10.0.0.0\/8"]"#), text)
        XCTAssertEqual(try JSONDecoder().decode(Profile.self, from: Data(text.utf8)), held)
    }
}
