// ManifestLimitsTests: the optional `taskLimit` and `memoryLimit` keys (docs/BUNDLES.md) — what a
// provider says it needs of its session's cgroup — parsed strictly, range-checked by key, and
// absent from the canonical form when not given (so older manifests keep their signatures).

import CulvertBundle
import CulvertVarlink
import XCTest

final class ManifestLimitsTests: XCTestCase {
    private func parse(_ extra: String) throws(BundleError) -> BundleManifest {
        try BundleManifest.parse(Array(BundleFixture.manifestText(extra: extra).utf8))
    }

    func testDeclaredLimitsParseAndStayInTheCanonicalForm() throws {
        let manifest = try parse(#""taskLimit": 64, "memoryLimit": 134217728"#)
        XCTAssertEqual(manifest.taskLimit, 64)
        XCTAssertEqual(manifest.memoryLimit, 134_217_728)
        let again = try BundleManifest.parse(manifest.encoded())
        XCTAssertEqual(again, manifest, "the canonical form keeps them")
        let decoded = try JSONDecoder().decode(BundleManifest.self, from: try JSONEncoder().encode(manifest))
        XCTAssertEqual(decoded, manifest, "Codable keeps them")
    }

    func testWithoutLimitsTheCanonicalFormIsUnchanged() throws {
        let manifest = try parse("")
        XCTAssertNil(manifest.taskLimit)
        XCTAssertNil(manifest.memoryLimit)
        let text = String(decoding: manifest.encoded(), as: UTF8.self)
        XCTAssertFalse(text.contains("Limit"), text)
    }

    func testOutOfRangeAndWrongTypesNameTheKey() {
        let cases: [(String, BundleError)] = [
            (#""taskLimit": 0"#, .numberOutOfRange(key: "taskLimit", text: "0", limit: "\(BundleManifest.taskLimitRange)")),
            (#""taskLimit": 65537"#, .numberOutOfRange(key: "taskLimit", text: "65537", limit: "\(BundleManifest.taskLimitRange)")),
            (#""taskLimit": "64""#, .manifestWrongType(key: "taskLimit", expected: "an integer")),
            (#""taskLimit": 1.5"#, .manifestWrongType(key: "taskLimit", expected: "an integer")),
            (
                #""memoryLimit": 1024"#,
                .numberOutOfRange(key: "memoryLimit", text: "1024", limit: "\(BundleManifest.memoryLimitRange)")
            ),
            (
                #""memoryLimit": 99999999999999999999"#,
                .numberOutOfRange(key: "memoryLimit", text: "1e+20", limit: "a 64-bit integer")
            ),
        ]
        for (extra, expected) in cases {
            XCTAssertThrowsError(try parse(extra), extra) { error in
                XCTAssertEqual(error as? BundleError, expected, extra)
            }
        }
    }
}
