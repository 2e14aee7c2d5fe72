import CulvertSystem
import Foundation
import XCTest

@testable import CulvertBundle

final class KeyTests: XCTestCase {
    // RFC 8032 §7.1, TEST 1: the seed, its public key, and the signature of the empty message.
    static let rfcSeed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
    let rfcPublicKey = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    let rfcSignature =
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"

    func testRFC8032VectorAndFingerprint() throws {
        let key = try SigningKey(rawRepresentation: try XCTUnwrap(Hex.decode(Self.rfcSeed, byteCount: 32)))
        XCTAssertEqual(key.publisherKey.hexRepresentation, rfcPublicKey)
        XCTAssertTrue(key.publisherKey.isValidSignature(try XCTUnwrap(Hex.decode(rfcSignature, byteCount: 64)), for: []))
        XCTAssertTrue(key.publisherKey.isValidSignature(key.signature(for: Array("x".utf8)), for: Array("x".utf8)))
        // Fingerprint = SHA-256 of the 32 raw bytes (checked against Python's hashlib).
        XCTAssertEqual(key.publisherKey.fingerprint, "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9")
        XCTAssertEqual(key.publisherKey.shortFingerprint, "21fe31dfa154a261")
        XCTAssertEqual(key.publisherKey.description, "21fe31dfa154a261")
    }

    func testSigningKeyNeverPrintsItsSeed() throws {
        let key = try SigningKey(rawRepresentation: try XCTUnwrap(Hex.decode(Self.rfcSeed, byteCount: 32)))
        for text in [
            key.description, key.debugDescription, "\(key)", String(reflecting: key),
            String(describing: Mirror(reflecting: key).children.map(\.value)),
        ] {
            XCTAssertFalse(text.contains(Self.rfcSeed), text)
            XCTAssertFalse(text.contains("157, 97, 177"), text)  // the seed's first bytes, as an array would print
        }
    }

    func testPrivateKeyFileRoundTripIs0600AndRefusesOverwrite() throws {
        let fixture = try BundleFixture()
        let path = fixture.base + "/publisher.key.json"
        try fixture.key.save(to: path)
        XCTAssertEqual(FileSystem.mode(of: path), 0o600)
        let text = String(decoding: try FileSystem.readFile(path), as: UTF8.self)
        XCTAssertEqual(text, #"{"algorithm":"ed25519","format":1,"privateKey":"\#(Hex.encode(fixture.key.rawRepresentation))"}"# + "\n")
        XCTAssertEqual(try SigningKey.load(from: path).publisherKey, fixture.key.publisherKey)

        let other = SigningKey.generate()
        XCTAssertEqual(bundleError { () throws(BundleError) in try other.save(to: path) }, .keyFileExists(path: path))
        try other.save(to: path, overwrite: true)
        XCTAssertEqual(try SigningKey.load(from: path).publisherKey, other.publisherKey)
    }

    func testPrivateKeyLoadRefusesLooseModesSymlinksAndPublicKeys() throws {
        let fixture = try BundleFixture()
        let path = fixture.base + "/publisher.key.json"
        try fixture.key.save(to: path)
        try Damage.chmod(path, 0o640)
        XCTAssertEqual(
            bundleError { () throws(BundleError) in try SigningKey.load(from: path) }, .keyFileInsecure(path: path, permissions: 0o640))
        try Damage.chmod(path, 0o600)
        try Damage.symlink(path, at: fixture.base + "/link.json")
        XCTAssertEqual(bundleError { () throws(BundleError) in try SigningKey.load(from: fixture.base + "/link.json") }?.code, "io_error")

        let publicPath = fixture.base + "/publisher.pub.json"
        try fixture.key.publisherKey.save(to: publicPath)
        try Damage.chmod(publicPath, 0o600)
        XCTAssertEqual(bundleError { () throws(BundleError) in try SigningKey.load(from: publicPath) }?.code, "key_file_malformed")
        XCTAssertEqual(bundleError { () throws(BundleError) in try PublisherKey.load(from: path) }?.code, "key_file_malformed")
    }

    func testKeyFileParsingIsStrict() {
        let hex = String(repeating: "ab", count: 32)
        let cases: [(String, String)] = [
            (#"{"algorithm":"ed25519","format":1,"publicKey":"\#(hex)"}"#, "ok"),
            (#"{"algorithm":"ed25519","format":1,"publicKey":"\#(hex.uppercased())"}"#, "key_file_malformed"),
            (#"{"algorithm":"ed25519","format":2,"publicKey":"\#(hex)"}"#, "key_file_malformed"),
            (#"{"algorithm":"ed448","format":1,"publicKey":"\#(hex)"}"#, "key_file_malformed"),
            (#"{"algorithm":"ed25519","format":1,"publicKey":"\#(hex)","comment":"x"}"#, "key_file_malformed"),
            (#"{"algorithm":"ed25519","format":1,"publicKey":"\#(hex.dropLast(2))"}"#, "key_file_malformed"),
            (#"{"algorithm":"ed25519","format":1}"#, "key_file_malformed"),
            (#"["ed25519"]"#, "key_file_malformed"),
            ("", "key_file_malformed"),
        ]
        for (text, expected) in cases {
            do {
                _ = try KeyFile.decode(Array(text.utf8), field: .publicKey, path: "k")
                XCTAssertEqual("ok", expected, text)
            } catch {
                XCTAssertEqual(error.code, expected, text)
            }
        }
    }

    func testTrustedKeysDirectory() throws {
        let fixture = try BundleFixture()
        let directory = fixture.base + "/trusted"
        XCTAssertEqual(try TrustedPublishers.load(directory: directory), .none, "a missing directory trusts nobody")
        try FileSystem.createDirectory(directory)
        let a = SigningKey.generate().publisherKey
        let b = SigningKey.generate().publisherKey
        try a.save(to: directory + "/a.pub.json")
        try b.save(to: directory + "/b.json")
        try FileSystem.writeAtomically(Array("not a key".utf8), to: directory + "/README")
        try FileSystem.writeAtomically(Array("{".utf8), to: directory + "/.editor-backup.json")
        let trust = try TrustedPublishers.load(directory: directory)
        XCTAssertEqual(Set(trust.keys), [a, b])
        XCTAssertTrue(trust.contains(a))
        XCTAssertEqual(trust.key(fingerprint: b.fingerprint), b)
        XCTAssertNil(trust.key(fingerprint: fixture.key.publisherKey.fingerprint))

        try FileSystem.writeAtomically(Array("{}".utf8), to: directory + "/broken.json")
        XCTAssertEqual(
            bundleError { () throws(BundleError) in try TrustedPublishers.load(directory: directory) }?.code, "key_file_malformed")
    }

    func testPublicKeyValidation() {
        XCTAssertEqual(bundleError { () throws(BundleError) in try PublisherKey(rawRepresentation: [1, 2, 3]) }, .publicKeyInvalid)
        XCTAssertEqual(bundleError { () throws(BundleError) in try PublisherKey(hex: "zz") }, .publicKeyInvalid)
        XCTAssertEqual(bundleError { () throws(BundleError) in try SigningKey(rawRepresentation: []) }, .publicKeyInvalid)
    }
}
