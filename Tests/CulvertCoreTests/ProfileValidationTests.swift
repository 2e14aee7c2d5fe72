import CulvertCore
import Foundation
import XCTest

final class ProfileValidationTests: XCTestCase {
    func reason(_ profile: Profile, secrets: [String: String]? = nil) -> String? {
        do {
            try ProfileValidation.validate(profile: profile, secrets: secrets)
            return nil
        } catch {
            return "\(error.field):\(error.reason.rawValue)"
        }
    }

    func testNames() {
        let accepted = ["a", "office", "vpn-1", "A.b_c", String(repeating: "x", count: 64), "0"]
        for name in accepted { XCTAssertNil(reason(Profile(name: name, extensionIdentifier: "io.x")), name) }
        let refused: [(String, String)] = [
            ("", "name:empty"), (".hidden", "name:invalid_characters"), ("-x", "name:invalid_characters"),
            ("a/b", "name:invalid_characters"), ("..", "name:invalid_characters"), ("a b", "name:invalid_characters"),
            ("é", "name:invalid_characters"), (String(repeating: "x", count: 65), "name:too_long"), ("a\0b", "name:invalid_characters"),
        ]
        for (name, expected) in refused { XCTAssertEqual(reason(Profile(name: name, extensionIdentifier: "io.x")), expected, name) }
    }

    func testExtensionIdentifiers() {
        for id in ["io.culvert.wireguard", "com.example.vpn-2", "a.b"] {
            XCTAssertNil(reason(Profile(name: "p", extensionIdentifier: id)), id)
        }
        let refused: [(String, String)] = [
            ("", "extension:empty"), ("single", "extension:invalid_characters"), ("a..b", "extension:invalid_characters"),
            (".a.b", "extension:invalid_characters"), ("a.b.", "extension:invalid_characters"), ("a.b/c", "extension:invalid_characters"),
            ("Io.Culvert", "extension:invalid_characters"), ("a_b.c", "extension:invalid_characters"),
            (String(repeating: "a.", count: 128) + "b", "extension:too_long"),
        ]
        for (id, expected) in refused { XCTAssertEqual(reason(Profile(name: "p", extensionIdentifier: id)), expected, id) }
    }

    func testOptionAndSecretLimits() {
        let tooMany = Dictionary(uniqueKeysWithValues: (0...ProfileLimits.maximumOptions).map { ("k\($0)", "v") })
        XCTAssertEqual(reason(Profile(name: "p", extensionIdentifier: "a.b", options: tooMany)), "options:too_many")
        XCTAssertEqual(reason(Profile(name: "p", extensionIdentifier: "a.b", options: ["": "v"])), "options.:empty")
        let long = String(repeating: "v", count: ProfileLimits.maximumOptionValueLength + 1)
        XCTAssertEqual(reason(Profile(name: "p", extensionIdentifier: "a.b", options: ["k": long])), "options.k:too_long")
        XCTAssertEqual(
            reason(Profile(name: "p", extensionIdentifier: "a.b"), secrets: ["key": String(repeating: "s", count: 70_000)]),
            "secrets.key:too_long")
        XCTAssertNil(reason(Profile(name: "p", extensionIdentifier: "a.b"), secrets: ["key": "s"]))
    }

    func testProfileWireKeysAreExplicit() throws {
        let data = try JSONEncoder().encode(
            Profile(name: "p", extensionIdentifier: "a.b", options: ["k": "v"], alwaysOn: true, secretNames: ["s"]))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["name", "extension", "options", "alwaysOn", "secretNames"])
    }
}
