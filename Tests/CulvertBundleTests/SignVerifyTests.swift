import CulvertSystem
import Foundation
import XCTest

@testable import CulvertBundle

final class SignVerifyTests: XCTestCase {
    func testSignThenVerifyRoundTrip() throws {
        let fixture = try BundleFixture()
        let signed = try BundleSigner.sign(directory: fixture.path, key: fixture.key)
        let verified = try fixture.verify()
        XCTAssertEqual(signed, verified)
        XCTAssertEqual(verified.identifier, BundleFixture.identifier)
        XCTAssertEqual(verified.version.description, "1.2.3 (7)")
        XCTAssertEqual(verified.publisher, .key(fingerprint: fixture.key.publisherKey.fingerprint))
        XCTAssertEqual(verified.publicKey, fixture.key.publisherKey)
        XCTAssertTrue(verified.isSigned)
        XCTAssertTrue(verified.manifest.supports(.handover))
        XCTAssertEqual(verified.files.map(\.path), ["bin/provider", "manifest.json", "share/readme.txt"])
        XCTAssertEqual(verified.files[0].sha256, BundleFixture.sha256(BundleFixture.executableBytes))
        XCTAssertEqual(verified.files.map(\.isExecutable), [true, false, false])
        XCTAssertEqual(verified.files[2].size, Int64(BundleFixture.readmeBytes.count))

        // The signature file is canonical, world-readable, and lists exactly the other files.
        let bytes = try fixture.read(BundleFormat.signatureFileName)
        let signature = try BundleSignature.parse(bytes)
        XCTAssertEqual(signature.encoded(), bytes)
        XCTAssertEqual(signature.files.keys.sorted(), verified.files.map(\.path))
        XCTAssertEqual(FileSystem.mode(of: fixture.file(BundleFormat.signatureFileName)), 0o644)
    }

    func testContentDigestIdentifiesContentNotSignature() throws {
        let fixture = try BundleFixture()
        let unsigned = try fixture.verify(allowUnsigned: true)
        try fixture.sign()
        let first = try fixture.verify()
        try fixture.sign()  // a new signature over the same content
        XCTAssertEqual(try fixture.verify().contentDigest, first.contentDigest)
        XCTAssertEqual(unsigned.contentDigest, first.contentDigest)
        try fixture.write("share/readme.txt", Array("changed\n".utf8))
        try fixture.sign()
        XCTAssertNotEqual(try fixture.verify().contentDigest, first.contentDigest)
    }

    func testResigningWithAnotherKeyChangesThePublisher() throws {
        let fixture = try BundleFixture()
        try fixture.sign()
        let other = SigningKey.generate()
        try fixture.sign(with: other)
        let verified = try fixture.verify(trust: TrustedPublishers([other.publisherKey]))
        XCTAssertEqual(verified.publisher, .key(fingerprint: other.publisherKey.fingerprint))
        XCTAssertEqual(bundleError { () throws(BundleError) in try fixture.verify() }?.code, "untrusted_key")
    }

    func testUnsignedIsAcceptedOnlyWithAllowUnsignedAndIsMarked() throws {
        let fixture = try BundleFixture()
        XCTAssertEqual(bundleError { () throws(BundleError) in try fixture.verify() }, .unsignedBundle)
        let verified = try fixture.verify(allowUnsigned: true, trust: .none)
        XCTAssertEqual(verified.publisher, .unsigned)
        XCTAssertFalse(verified.isSigned)
        XCTAssertNil(verified.publicKey)
        XCTAssertEqual(verified.publisher.description, "unsigned")
        XCTAssertEqual(
            verified.release, BundleRelease(identifier: BundleFixture.identifier, version: verified.version, publisher: .unsigned))
    }

    /// allowUnsigned excuses a missing signature, never a bad or untrusted one.
    func testAllowUnsignedDoesNotExcuseABadSignature() throws {
        let fixture = try BundleFixture()
        try fixture.sign()
        try fixture.editSignature { $0.signature[0] ^= 1 }
        XCTAssertEqual(bundleError { () throws(BundleError) in try fixture.verify(allowUnsigned: true) }?.code, "signature_invalid")
        try fixture.sign(with: SigningKey.generate())
        XCTAssertEqual(bundleError { () throws(BundleError) in try fixture.verify(allowUnsigned: true) }?.code, "untrusted_key")
    }

    func testSignerRefusesWhatVerificationWouldRefuseAndWritesNothing() throws {
        let fixture = try BundleFixture()
        try fixture.writeManifest(BundleFixture.manifestText(["version": "\"1.2\""]))
        XCTAssertEqual(
            bundleError { () throws(BundleError) in try BundleSigner.sign(directory: fixture.path, key: fixture.key) },
            .versionInvalid(text: "1.2"))
        XCTAssertFalse(FileSystem.exists(fixture.file(BundleFormat.signatureFileName)))

        let linked = try BundleFixture()
        try Damage.symlink("/etc/passwd", at: linked.file("share/passwd"))
        XCTAssertEqual(
            bundleError { () throws(BundleError) in try BundleSigner.sign(directory: linked.path, key: linked.key) }?.code,
            "symlink_escapes_bundle")
        XCTAssertEqual(try FileSystem.listDirectory(linked.path), ["bin", "manifest.json", "share"])
    }

    /// The exact bytes that are signed: the domain prefix, then sorted-key compact JSON.
    func testPayloadIsDomainSeparatedCanonicalJSON() throws {
        let manifest = try BundleManifest.parse(Array(BundleFixture.manifestText().utf8))
        let payload = BundleSignature.payload(manifest: manifest.jsonValue, files: ["z": "00", "a/b": "11"])
        XCTAssertEqual(
            String(decoding: payload, as: UTF8.self),
            "culvert.bundle.signature.v1\u{0}"
                + #"{"files":{"a/b":"11","z":"00"},"manifest":{"build":7,"capabilities":["handover"],"displayName":"Example VPN","#
                + #""executable":"bin/provider","identifier":"com.example.vpn","minimumCulvertdVersion":"0.1.0","version":"1.2.3"}}"#)
    }

    /// A signature over the same JSON without the domain prefix is worthless as a bundle signature.
    func testSignatureWithoutDomainPrefixDoesNotVerify() throws {
        let key = SigningKey.generate()
        let manifest = try BundleManifest.parse(Array(BundleFixture.manifestText().utf8)).jsonValue
        let files = ["manifest.json": BundleFixture.sha256([])]
        let payload = BundleSignature.payload(manifest: manifest, files: files)
        let undomained = Array(payload.dropFirst(BundleFormat.signatureDomain.utf8.count))
        let forged = BundleSignature(publicKey: key.publisherKey, files: files, signature: key.signature(for: undomained))
        XCTAssertFalse(forged.isValid(manifest: manifest))
        XCTAssertTrue(BundleSignature.make(manifest: manifest, files: files, key: key).isValid(manifest: manifest))
    }

    /// A signature made by an independent implementation from docs/BUNDLES.md alone (Python's
    /// `cryptography`, RFC 8032 test key 1) verifies; and Culvert's signer, given the same key,
    /// writes the same bytes (Ed25519 is deterministic), which pins the canonical encoding.
    func testSignatureFromAnIndependentImplementationVerifiesAndMatchesByteForByte() throws {
        let golden =
            #"{"files":{"bin/provider":"8a46262e9efcb3c966cee5663fd15474c546f9a3bf6410bab4c53728ac1f593a","manifest.json":"6cf3bc0d0664906903921a94a6b63faa0ab76252be34bff6787d41b7b9d5cd4a","share/readme.txt":"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"},"format":1,"publicKey":"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a","signature":"4f1f4bd1a0d90cace0f9d3580fa78a6d76b8e28ebf4293371a1cc045cc4d62414e56bf018313bd70ec27fd76e190352fb60f2659eae3ce6d3fb53d34c1b0bd04"}"#
            + "\n"
        let fixture = try BundleFixture()
        try fixture.write(BundleFormat.signatureFileName, Array(golden.utf8))
        let rfcKey = try SigningKey(rawRepresentation: try XCTUnwrap(Hex.decode(KeyTests.rfcSeed, byteCount: 32)))
        let trust = TrustedPublishers([rfcKey.publisherKey])
        let verified = try fixture.verify(trust: trust)
        XCTAssertEqual(verified.publisher, .key(fingerprint: "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"))

        try fixture.sign(with: rfcKey)
        XCTAssertEqual(String(decoding: try fixture.read(BundleFormat.signatureFileName), as: UTF8.self), golden)
    }
}
