import XCTest

@testable import CulvertBundle

final class SignatureFileTests: XCTestCase {
    let key = SigningKey.generate()
    var keyHex: String { key.publisherKey.hexRepresentation }
    let digest = String(repeating: "0f", count: 32)
    let signatureHex = String(repeating: "ab", count: 64)

    func testEncodeParseRoundTripIsCanonical() throws {
        let manifest = try BundleManifest.parse(Array(BundleFixture.manifestText().utf8)).jsonValue
        let signature = BundleSignature.make(manifest: manifest, files: ["manifest.json": digest, "bin/provider": digest], key: key)
        let bytes = signature.encoded()
        XCTAssertEqual(try BundleSignature.parse(bytes), signature)
        XCTAssertEqual(
            String(decoding: bytes, as: UTF8.self),
            #"{"files":{"bin/provider":"\#(digest)","manifest.json":"\#(digest)"},"format":1,"#
                + #""publicKey":"\#(keyHex)","signature":"\#(Hex.encode(signature.signature))"}"# + "\n")
        XCTAssertTrue(signature.isValid(manifest: manifest))
    }

    func testRefusals() {
        func text(files: String = #"{"manifest.json":"DIGEST"}"#, format: String = "1", key: String? = nil, signature: String? = nil)
            -> String
        {
            #"{"files":\#(files.replacingOccurrences(of: "DIGEST", with: digest)),"format":\#(format),"#
                + #""publicKey":"\#(key ?? keyHex)","signature":"\#(signature ?? signatureHex)"}"#
        }
        let cases: [(String, String)] = [
            (text(), "ok"),
            ("", "signature_malformed"),
            ("[]", "signature_malformed"),
            (#"{"format":1}"#, "signature_malformed"),
            (text(format: #""1""#), "signature_malformed"),
            (text(format: "2"), "signature_format_unsupported"),
            (#"{"format":2,"anything":"else"}"#, "signature_format_unsupported"),
            (String(text().dropLast()) + #","comment":"x"}"#, "signature_malformed"),
            (text(key: String(keyHex.dropLast(2))), "public_key_invalid"),
            (text(key: keyHex.uppercased()), "public_key_invalid"),
            (text(signature: String(signatureHex.dropLast(2))), "signature_malformed"),
            (text(signature: signatureHex.uppercased()), "signature_malformed"),
            (text(files: "[]"), "signature_malformed"),
            (text(files: #"{"manifest.json":"\#(digest.uppercased())"}"#), "signature_malformed"),
            (text(files: #"{"manifest.json":7}"#), "signature_malformed"),
            (text(files: #"{"/etc/passwd":"DIGEST"}"#), "signed_path_absolute"),
            (text(files: #"{"bin/../../x":"DIGEST"}"#), "signed_path_parent_reference"),
            (text(files: #"{"..":"DIGEST"}"#), "signed_path_parent_reference"),
            (text(files: #"{"./x":"DIGEST"}"#), "signed_path_invalid"),
            (text(files: #"{"":"DIGEST"}"#), "signed_path_invalid"),
            (text(files: #"{"signature.json":"DIGEST"}"#), "signed_path_invalid"),
            (text(files: #"{"a\nb":"DIGEST"}"#), "signed_path_invalid"),
            (text(files: #"{"x":"DIGEST","x":"DIGEST"}"#), "signature_malformed"),
        ]
        for (input, expected) in cases {
            do {
                _ = try BundleSignature.parse(Array(input.utf8))
                XCTAssertEqual("ok", expected, input)
            } catch {
                XCTAssertEqual(error.code, expected, input)
            }
        }
        let tooMany = (0...BundleLimits.maximumEntryCount).map { #""f\#($0)":"DIGEST""# }.joined(separator: ",")
        XCTAssertEqual(
            bundleError { () throws(BundleError) in try BundleSignature.parse(Array(text(files: "{\(tooMany)}").utf8)) },
            .signatureMalformed(reason: "more than \(BundleLimits.maximumEntryCount) files"))
    }

    func testPathGrammar() {
        XCTAssertNil(BundlePath.problem(with: "bin/provider"))
        XCTAssertEqual(BundlePath.problem(with: "/x"), .absolute)
        XCTAssertEqual(BundlePath.problem(with: "a/../b"), .parentReference)
        XCTAssertEqual(BundlePath.problem(with: "a/./b"), .invalid)
        XCTAssertEqual(BundlePath.problem(with: String(repeating: "a/", count: 600) + "b"), .invalid)
        XCTAssertEqual(BundlePath.ancestors(of: "a/b/c"), ["a", "a/b"])
        XCTAssertEqual(BundlePath.ancestors(of: "c"), [])
        XCTAssertEqual(try BundlePath.identifier(ofBundleDirectory: "/x/com.example.vpn.culvertext/"), "com.example.vpn")
        XCTAssertEqual(
            bundleError { () throws(BundleError) in try BundlePath.identifier(ofBundleDirectory: "/x/.culvertext") },
            .bundleNameInvalid(name: ".culvertext"))
    }

    func testSymlinkEscapeIsJudgedLexically() {
        XCTAssertTrue(BundleTree.escapes(target: "/etc/passwd", from: ""))
        XCTAssertTrue(BundleTree.escapes(target: "..", from: ""))
        XCTAssertTrue(BundleTree.escapes(target: "../../x", from: "share"))
        XCTAssertFalse(BundleTree.escapes(target: "../bin/provider", from: "share"))
        XCTAssertFalse(BundleTree.escapes(target: "./provider", from: "bin"))
    }
}
