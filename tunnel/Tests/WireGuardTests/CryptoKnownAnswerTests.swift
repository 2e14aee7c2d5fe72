// Known-answer tests for every WireGuardCrypto primitive: RFC 8439 §2.8.2, draft-irtf-cfrg-xchacha
// A.3.1, RFC 7693 Appendix B and the Appendix E self-test, wireguard-go's device/kdf_test.go, RFC 7748.
import WireGuardCrypto
import XCTest

final class CryptoKnownAnswerTests: XCTestCase {
    static let sunscreen = Array(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
    static let aeadKey = try! SecretKey(bytes: Array(0x80...0x9f))  // 32 bytes
    static let aeadAD = hex("50515253c0c1c2c3c4c5c6c7")

    func testChaCha20Poly1305RFC8439Section282() throws {
        let expected = hex(
            """
            d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b
            1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
            3ff4def08e4b7a9de576d26586cec64b6116
            1ae10b594f09e26a7e902ecbd0600691
            """)
        let aead = ChaCha20Poly1305(key: Self.aeadKey)
        let nonce = try ChaCha20Poly1305.Nonce(bytes: hex("070000004041424344454647"))
        var buffer = Self.sunscreen + [UInt8](repeating: 0, count: 16)
        let sealed = try Self.aeadAD.withUnsafeBytes { ad in
            try buffer.withUnsafeMutableBytes { raw in
                try aead.seal(inPlace: raw, plaintextCount: Self.sunscreen.count, nonce: nonce, authenticating: ad)
            }
        }
        XCTAssertEqual(sealed, 130)
        XCTAssertEqual(buffer, expected)
        XCTAssertEqual(try aead.open(expected, nonce: nonce, authenticating: Self.aeadAD), Self.sunscreen)
    }

    func testXChaCha20Poly1305DraftA31() throws {
        let expected = hex(
            """
            bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39
            ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
            21f9664c97637da9768812f615c68b13b52e
            c0875924c1c7987947deafd8780acf49
            """)
        let aead = XChaCha20Poly1305(key: Self.aeadKey)
        let nonce = Array(UInt8(0x40)...0x57)
        var buffer = Self.sunscreen + [UInt8](repeating: 0, count: 16)
        let count = Self.sunscreen.count
        _ = try Self.aeadAD.withUnsafeBytes { ad in
            try nonce.withUnsafeBytes { nonceRaw in
                try buffer.withUnsafeMutableBytes { try aead.seal(inPlace: $0, plaintextCount: count, nonce: nonceRaw, authenticating: ad) }
            }
        }
        XCTAssertEqual(buffer, expected)
        let opened = try Self.aeadAD.withUnsafeBytes { ad in
            try nonce.withUnsafeBytes { nonceRaw in
                try buffer.withUnsafeMutableBytes {
                    try aead.open(inPlace: $0, ciphertextCount: $0.count, nonce: nonceRaw, authenticating: ad)
                }
            }
        }
        XCTAssertEqual(Array(buffer[0..<opened]), Self.sunscreen)
    }

    func testBLAKE2sRFC7693AppendixB() {
        let digest = Array("abc".utf8).withUnsafeBytes { BLAKE2s.hash($0) }
        XCTAssertEqual(hexString(digest.bytes), "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982")
    }

    /// RFC 7693 Appendix E: the grand hash over unkeyed and keyed hashes of every parameter set.
    func testBLAKE2sRFC7693AppendixESelfTest() throws {
        func sequence(_ count: Int, seed: UInt32) -> [UInt8] {
            var a = 0xDEAD_4BAD &* seed
            var b: UInt32 = 1
            return (0..<count).map { _ in
                let t = a &+ b
                a = b
                b = t
                return UInt8(truncatingIfNeeded: t >> 24)
            }
        }
        var grand = BLAKE2sHasher.hash()
        for outputCount in [16, 20, 28, 32] {
            for inputCount in [0, 3, 64, 65, 255, 1024] {
                let input = sequence(inputCount, seed: UInt32(inputCount))
                let key = sequence(outputCount, seed: UInt32(outputCount))
                for useKey in [false, true] {
                    var hasher = try key.withUnsafeBytes { k in
                        try BLAKE2sHasher(outputCount: outputCount, key: useKey ? k : UnsafeRawBufferPointer(start: nil, count: 0))
                    }
                    hasher.update(input)
                    var digest = [UInt8](repeating: 0, count: outputCount)
                    digest.withUnsafeMutableBytes { hasher.finalize(into: $0) }
                    grand.update(digest)
                }
            }
        }
        XCTAssertEqual(hexString(grand.finalizeKey().bytes), "6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe")
    }

    func testBLAKE2sRefusesBadParameters() {
        XCTAssertThrowsError(try BLAKE2sHasher(outputCount: 0)) {
            XCTAssertEqual($0 as? CryptoError, .wrongLength(expected: 32, actual: 0))
        }
        XCTAssertThrowsError(try BLAKE2sHasher(outputCount: 33))
        let longKey = [UInt8](repeating: 1, count: 33)
        XCTAssertThrowsError(try longKey.withUnsafeBytes { try BLAKE2sHasher(outputCount: 16, key: $0) }) {
            XCTAssertEqual($0 as? CryptoError, .wrongLength(expected: 32, actual: 33))
        }
    }

    /// wireguard-go device/kdf_test.go: KDF3, KDF2 and KDF1 on the same three inputs.
    func testKDFWireGuardGoVectors() {
        let vectors: [(key: String, input: String, t: [String])] = [
            (
                "746573742d6b6579", "746573742d696e707574",
                [
                    "6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633",
                    "df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a",
                    "fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24",
                ]
            ),
            (
                "776972656775617264", "776972656775617264",
                [
                    "491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8",
                    "1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f",
                    "31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160",
                ]
            ),
            (
                "", "",
                [
                    "8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0",
                    "58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e",
                    "0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e",
                ]
            ),
        ]
        for vector in vectors {
            let key = hex(vector.key)
            let input = hex(vector.input)
            key.withUnsafeBytes { k in
                input.withUnsafeBytes { i in
                    let (a, b, c) = WireGuardKDF.kdf3(key: k, input: i)
                    XCTAssertEqual([a, b, c].map { hexString($0.bytes) }, vector.t)
                    let (d, e) = WireGuardKDF.kdf2(key: k, input: i)
                    XCTAssertEqual([d, e].map { hexString($0.bytes) }, Array(vector.t[0..<2]))
                    XCTAssertEqual(hexString(WireGuardKDF.kdf1(key: k, input: i).bytes), vector.t[0])
                }
            }
        }
    }

    /// RFC 7748 §5.2 (single scalar multiplications) and §6.1 (the Alice/Bob exchange).
    func testX25519RFC7748() throws {
        let cases = [
            (
                "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
                "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
                "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
            ),
            (
                "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
                "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
                "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"
            ),
        ]
        for (scalar, u, output) in cases {
            let key = PrivateKey(clamping: try SecretKey(bytes: hex(scalar)))
            XCTAssertEqual(hexString(try key.sharedSecret(with: PublicKey(bytes: hex(u))).bytes), output)
        }
        let alice = PrivateKey(clamping: try SecretKey(bytes: hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")))
        let bob = PrivateKey(clamping: try SecretKey(bytes: hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")))
        XCTAssertEqual(hexString(alice.publicKey.bytes), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        XCTAssertEqual(hexString(bob.publicKey.bytes), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
        XCTAssertEqual(hexString(try alice.sharedSecret(with: bob.publicKey).bytes), shared)
        XCTAssertEqual(hexString(try bob.sharedSecret(with: alice.publicKey).bytes), shared)
    }

    /// Low-order points give the all-zero secret, which WireGuard must refuse.
    func testX25519RefusesAllZeroSharedSecret() throws {
        let key = PrivateKey(clamping: .filled(7))
        for lowOrder in [[UInt8](repeating: 0, count: 32), [1] + [UInt8](repeating: 0, count: 31)] {
            XCTAssertThrowsError(try key.sharedSecret(with: PublicKey(bytes: lowOrder))) {
                XCTAssertEqual($0 as? CryptoError, .zeroSharedSecret)
            }
        }
    }

    func testClampingAsWireGuard() throws {
        let key = PrivateKey(clamping: .filled(0xff))
        XCTAssertEqual(key.secret.bytes[0], 0xf8)
        XCTAssertEqual(key.secret.bytes[31], 0x7f)
        XCTAssertEqual(Array(key.secret.bytes[1..<31]), [UInt8](repeating: 0xff, count: 30))
        // Clamping is idempotent and does not change the public key.
        XCTAssertEqual(PrivateKey(clamping: key.secret).publicKey, key.publicKey)
    }
}
