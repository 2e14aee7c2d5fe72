import Foundation
import XCTest

@testable import CulvertBundle

final class ManifestTests: XCTestCase {
    func testGoodManifestParsesAndEncodesCanonically() throws {
        let manifest = try BundleManifest.parse(Array(BundleFixture.manifestText().utf8))
        XCTAssertEqual(manifest.identifier, "com.example.vpn")
        XCTAssertEqual(manifest.version, SemanticVersion("1.2.3"))
        XCTAssertEqual(manifest.build, 7)
        XCTAssertEqual(manifest.executable, "bin/provider")
        XCTAssertEqual(manifest.displayName, "Example VPN")
        XCTAssertEqual(manifest.capabilities, [.handover])
        XCTAssertEqual(manifest.minimumCulvertdVersion, SemanticVersion("0.1.0"))
        XCTAssertEqual(
            String(decoding: manifest.encoded(), as: UTF8.self),
            #"{"build":7,"capabilities":["handover"],"displayName":"Example VPN","executable":"bin/provider","#
                + #""identifier":"com.example.vpn","minimumCulvertdVersion":"0.1.0","version":"1.2.3"}"# + "\n")
        XCTAssertEqual(try BundleManifest.parse(manifest.encoded()), manifest)
    }

    /// `tun-offload` is a known capability (its wire name has a hyphen); near misses are unknown.
    func testTunOffloadCapability() throws {
        let manifest = try BundleManifest.parse(Array(BundleFixture.manifestText(["capabilities": #"["handover", "tun-offload"]"#]).utf8))
        XCTAssertEqual(manifest.capabilities, [.handover, .tunOffload])
        XCTAssertTrue(manifest.supports(.tunOffload))
        XCTAssertTrue(String(decoding: manifest.encoded(), as: UTF8.self).contains(#""capabilities":["handover","tun-offload"]"#))
        XCTAssertEqual(try BundleManifest.parse(manifest.encoded()), manifest)
        for name in ["tun_offload", "tunOffload", "TUN-OFFLOAD"] {
            XCTAssertThrowsError(try BundleManifest.parse(Array(BundleFixture.manifestText(["capabilities": "[\"\(name)\"]"]).utf8))) {
                XCTAssertEqual($0 as? BundleError, .capabilityUnknown(name: name))
            }
        }
        XCTAssertThrowsError(
            try BundleManifest.parse(Array(BundleFixture.manifestText(["capabilities": #"["tun-offload", "tun-offload"]"#]).utf8))
        ) { XCTAssertEqual($0 as? BundleError, .capabilityDuplicate(name: "tun-offload")) }
    }

    /// Layout and key order do not matter; the canonical encoding is the same.
    func testLayoutDoesNotChangeTheCanonicalForm() throws {
        let compact =
            #"{"version":"1.2.3","identifier":"com.example.vpn","build":7,"executable":"bin/provider","#
            + #""displayName":"Example VPN","capabilities":["handover"],"minimumCulvertdVersion":"0.1.0"}"#
        let a = try BundleManifest.parse(Array(compact.utf8))
        let b = try BundleManifest.parse(Array(BundleFixture.manifestText().utf8))
        XCTAssertEqual(a.encoded(), b.encoded())
    }

    func testCodableUsesTheSameKeysAndRefusals() throws {
        let manifest = try BundleManifest.parse(Array(BundleFixture.manifestText().utf8))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(manifest)
        XCTAssertEqual(Array(data) + [UInt8(ascii: "\n")], manifest.encoded())
        XCTAssertEqual(try JSONDecoder().decode(BundleManifest.self, from: data), manifest)

        let withUnknown = Data(BundleFixture.manifestText(extra: #""homepage": "x""#).utf8)
        XCTAssertThrowsError(try JSONDecoder().decode(BundleManifest.self, from: withUnknown)) { error in
            guard case .dataCorrupted(let context) = error as? DecodingError else { return XCTFail("\(error)") }
            XCTAssertEqual(context.underlyingError as? BundleError, .manifestUnknownKey(key: "homepage"))
        }
        let badIdentifier = Data(BundleFixture.manifestText(identifier: "vpn").utf8)
        XCTAssertThrowsError(try JSONDecoder().decode(BundleManifest.self, from: badIdentifier))
    }

    func testFieldRefusals() {
        let cases: [(String, BundleError)] = [
            ("[]", .manifestMalformed(reason: "the manifest is not a JSON object")),
            (BundleFixture.manifestText(["build": "7.0"]), .manifestWrongType(key: "build", expected: "an integer")),
            (BundleFixture.manifestText(["build": "4294967296"]), .buildOutOfRange(build: 4_294_967_296)),
            (
                BundleFixture.manifestText(["build": "99999999999999999999"]),
                .numberOutOfRange(key: "build", text: "1e+20", limit: "0...\(BundleManifest.maximumBuild)")
            ),
            (
                BundleFixture.manifestText(["version": "\"4294967296.0.0\""]),
                .numberOutOfRange(key: "version", text: "4294967296.0.0", limit: "0...4294967295 per component")
            ),
            (
                BundleFixture.manifestText(["minimumCulvertdVersion": "\"0.99999999999.0\""]),
                .numberOutOfRange(key: "minimumCulvertdVersion", text: "0.99999999999.0", limit: "0...4294967295 per component")
            ),
            (BundleFixture.manifestText(["version": "\"1.02.0\""]), .versionInvalid(text: "1.02.0")),
            (BundleFixture.manifestText(["version": "1"]), .manifestWrongType(key: "version", expected: "a string")),
            (
                BundleFixture.manifestText(["capabilities": "\"handover\""]),
                .manifestWrongType(key: "capabilities", expected: "an array of strings")
            ),
            (BundleFixture.manifestText(["capabilities": "[1]"]), .manifestWrongType(key: "capabilities", expected: "an array of strings")),
            (BundleFixture.manifestText(["displayName": "\"\""]), .displayNameInvalid(reason: "is empty")),
            (BundleFixture.manifestText(["displayName": "\" VPN\""]), .displayNameInvalid(reason: "has leading or trailing whitespace")),
            (
                BundleFixture.manifestText(["displayName": "\"a\\nb\""]),
                .displayNameInvalid(reason: "contains control or formatting characters")
            ),
            (
                BundleFixture.manifestText(["displayName": "\"\(String(repeating: "é", count: 65))\""]),
                .displayNameInvalid(reason: "is longer than 128 bytes")
            ),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(bundleError { () throws(BundleError) in try BundleManifest.parse(Array(text.utf8)) }, expected, text)
        }
        // Strict JSON: a duplicate key is ambiguous, deeper nesting than the format has is refused.
        for text in [BundleFixture.manifestText(extra: #""build": 8"#), BundleFixture.manifestText(["capabilities": #"[["handover"]]"#])] {
            XCTAssertEqual(
                bundleError { () throws(BundleError) in try BundleManifest.parse(Array(text.utf8)) }?.code, "manifest_malformed", text)
        }
        let huge = [UInt8](repeating: UInt8(ascii: " "), count: Int(BundleManifest.maximumSize) + 1)
        XCTAssertEqual(bundleError { () throws(BundleError) in try BundleManifest.parse(huge) }?.code, "manifest_too_large")
        // The largest build and a display name of exactly the limit are accepted.
        XCTAssertNoThrow(try BundleManifest.parse(Array(BundleFixture.manifestText(["build": "4294967295"]).utf8)))
        XCTAssertNoThrow(
            try BundleManifest.parse(Array(BundleFixture.manifestText(["displayName": "\"\(String(repeating: "é", count: 64))\""]).utf8)))
        XCTAssertNoThrow(try BundleManifest.parse(Array(BundleFixture.manifestText(["capabilities": "[]"]).utf8)))
    }

    func testIdentifierGrammar() {
        let valid = [
            "com.example.vpn", "io.culvert.wireguard", "a.b", "com.example-corp.vpn2", "x1.y", "org.\(String(repeating: "a", count: 63))",
        ]
        for identifier in valid { XCTAssertTrue(BundleManifest.isValidIdentifier(identifier), identifier) }
        let invalid = [
            "", "vpn", "com.", ".com", "com..vpn", "Com.example", "com.Example", "com.exa_mple", "com.-vpn", "com.vpn-", "1com.vpn",
            "com.exämple", "com.example.vpn.", "com/example", "com example", "org.\(String(repeating: "a", count: 64))",
            Array(repeating: "abcdefgh", count: 29).joined(separator: "."),
        ]
        for identifier in invalid { XCTAssertFalse(BundleManifest.isValidIdentifier(identifier), identifier) }
    }

    func testExecutablePathGrammar() {
        let valid = ["provider", "bin/provider", "libexec/culvert/wg-provider", "bin/provider+x86_64@v1"]
        for path in valid {
            XCTAssertNoThrow(try manifest(executable: path), path)
        }
        let invalid = [
            "", "/bin/provider", "../provider", "bin/../provider", "./provider", "bin/./provider", "bin/", "bin//provider",
            "manifest.json", "signature.json", "bin/pro vider", "bin/prövider", "bin\\provider",
        ]
        for path in invalid {
            XCTAssertEqual(
                bundleError { () throws(BundleError) in try manifest(executable: path) }, .executablePathInvalid(path: path), path)
        }
    }

    private func manifest(executable: String) throws(BundleError) -> BundleManifest {
        // !: both versions are valid literals.
        try BundleManifest(
            identifier: "com.example.vpn", version: SemanticVersion("1.0.0")!, build: 1, executable: executable, displayName: "VPN",
            minimumCulvertdVersion: SemanticVersion("0.1.0")!)
    }
}
