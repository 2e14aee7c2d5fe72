import Foundation
import XCTest

@testable import CulvertBundle

final class VersionTests: XCTestCase {
    func testSemanticVersionGrammar() {
        let valid: [(String, Int, Int, Int)] = [
            ("0.0.0", 0, 0, 0), ("1.2.3", 1, 2, 3), ("10.20.30", 10, 20, 30), ("4294967295.0.7", 4_294_967_295, 0, 7),
        ]
        for (text, major, minor, patch) in valid {
            let version = SemanticVersion(text)
            XCTAssertEqual(version?.major, major, text)
            XCTAssertEqual(version?.minor, minor, text)
            XCTAssertEqual(version?.patch, patch, text)
            XCTAssertEqual(version?.description, text, "one spelling per version")
        }
        let invalid = [
            "", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.03", "00.0.0", "v1.2.3", "1.2.3-beta", "1.2.3+build.5", " 1.2.3",
            "1.2.3 ", "1..3", ".1.2", "1.2.", "-1.2.3", "+1.2.3", "1.2.x", "4294967296.0.0", "99999999999.0.0", "１.2.3", "1.2.3\n",
            "1.2.3\u{0}", "1,2,3", "1.2.٣",
        ]
        for text in invalid { XCTAssertNil(SemanticVersion(text), text.debugDescription) }
        XCTAssertNil(SemanticVersion(major: -1, minor: 0, patch: 0))
    }

    func testSemanticVersionOrder() throws {
        let ordered = ["0.0.0", "0.0.1", "0.1.0", "0.9.9", "0.10.0", "1.0.0", "1.2.9", "1.2.10", "1.10.0", "2.0.0", "10.0.0"]
        let versions = try ordered.map { try XCTUnwrap(SemanticVersion($0)) }
        for (i, a) in versions.enumerated() {
            for (j, b) in versions.enumerated() {
                XCTAssertEqual(a < b, i < j, "\(a) < \(b)")
                XCTAssertEqual(a == b, i == j, "\(a) == \(b)")
            }
        }
    }

    func testBundleVersionChangeFollowsContract6() throws {
        func v(_ text: String, _ build: Int) throws -> BundleVersion {
            BundleVersion(version: try XCTUnwrap(SemanticVersion(text)), build: build)
        }
        let cases: [(BundleVersion, BundleVersion, BundleVersion.Change)] = [
            (try v("1.2.3", 7), try v("1.2.3", 7), .unchanged),
            (try v("1.2.3", 7), try v("1.2.3", 8), .upgrade),
            (try v("1.2.3", 7), try v("1.2.3", 6), .downgrade),
            (try v("1.2.3", 7), try v("1.2.4", 0), .upgrade),  // the version decides before the build
            (try v("1.2.3", 7), try v("1.2.2", 900), .downgrade),
            (try v("1.9.0", 1), try v("1.10.0", 1), .upgrade),  // numeric, not textual
            (try v("2.0.0", 0), try v("10.0.0", 0), .upgrade),
        ]
        for (installed, offered, expected) in cases {
            XCTAssertEqual(BundleVersion.change(from: installed, to: offered), expected, "\(installed) → \(offered)")
        }
        XCTAssertEqual(try v("1.2.3", 45).description, "1.2.3 (45)")
    }

    func testInstallDecision() throws {
        // !: every literal below is a valid version.
        let version = { (text: String, build: Int) in BundleVersion(version: SemanticVersion(text)!, build: build) }
        let alice = BundlePublisher.key(fingerprint: String(repeating: "a", count: 64))
        let bob = BundlePublisher.key(fingerprint: String(repeating: "b", count: 64))
        func release(_ text: String, _ build: Int, _ publisher: BundlePublisher = alice) -> BundleRelease {
            BundleRelease(identifier: "com.example.vpn", version: version(text, build), publisher: publisher)
        }
        let installed = release("1.2.3", 7)
        let cases: [(BundleRelease?, BundleRelease, Bool, InstallDecision)] = [
            (nil, installed, false, .installed),
            (installed, release("1.2.3", 7), false, .unchanged),
            (installed, release("1.2.3", 8), false, .replaced),
            (installed, release("1.3.0", 0), false, .replaced),
            (installed, release("1.2.2", 99), false, .downgradeRefused(installed: version("1.2.3", 7), offered: version("1.2.2", 99))),
            (installed, release("1.2.2", 99), true, .replaced),
            (installed, release("2.0.0", 0, bob), false, .publisherChangeRefused(installed: alice, offered: bob)),
            (installed, release("1.2.3", 7, bob), true, .publisherChangeRefused(installed: alice, offered: bob)),
            (installed, release("2.0.0", 0, .unsigned), false, .publisherChangeRefused(installed: alice, offered: .unsigned)),
        ]
        for (installed, offered, allowDowngrade, expected) in cases {
            XCTAssertEqual(
                InstallDecision.decide(installed: installed, offered: offered, allowDowngrade: allowDowngrade), expected,
                "\(String(describing: installed?.version)) → \(offered.version) allowDowngrade=\(allowDowngrade)")
        }
    }

    func testCodableForms() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let release = BundleRelease(
            identifier: "com.example.vpn", version: BundleVersion(version: try XCTUnwrap(SemanticVersion("1.2.3")), build: 7),
            publisher: .key(fingerprint: String(repeating: "c", count: 64)))
        let json = String(decoding: try encoder.encode(release), as: UTF8.self)
        XCTAssertEqual(
            json,
            #"{"identifier":"com.example.vpn","publisher":"\#(String(repeating: "c", count: 64))","version":{"build":7,"version":"1.2.3"}}"#
        )
        XCTAssertEqual(try JSONDecoder().decode(BundleRelease.self, from: Data(json.utf8)), release)
        XCTAssertEqual(try JSONDecoder().decode(BundlePublisher.self, from: Data(#""unsigned""#.utf8)), .unsigned)
        XCTAssertThrowsError(try JSONDecoder().decode(BundlePublisher.self, from: Data(#""alice""#.utf8)))
        XCTAssertThrowsError(try JSONDecoder().decode(SemanticVersion.self, from: Data(#""1.2""#.utf8)))
    }
}
