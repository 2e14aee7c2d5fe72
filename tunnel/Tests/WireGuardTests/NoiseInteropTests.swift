// A second, independent implementation: PyPI noiseprotocol (installed into .build-py by
// scripts/install-deps) runs Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s with WireGuard's prologue and the
// same fixed keys (noise_reference.py); the Noise parts of our messages, the transport keys and the
// handshake hash must be byte-for-byte equal, and it must open our messages. mac1/mac2 are outside Noise.
import Foundation
import WireGuardCrypto
import WireGuardProtocol
import XCTest

final class NoiseInteropTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let root = directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testNoiseProtocolProducesOurBytes() throws {
        let (initiator, initiation) = try Fixture.initiate()
        let responder = try Responder.consume(initiation, local: Fixture.responderStatic, lookup: Fixture.lookup())
        let (response, responderKeys) = try responder.respond(ephemeral: Fixture.responderEphemeral, senderIndex: Fixture.responderIndex)
        let keys = try initiator.consume(response: response, local: Fixture.initiatorStatic)

        let privateKeys = Fixture.rawPrivateKeys.map { hexString([UInt8](repeating: $0, count: 32)) }
        let arguments =
            [Self.directory.appendingPathComponent("noise_reference.py").path] + privateKeys + [
                hexString(Fixture.presharedKey.bytes), hexString(Fixture.timestamp.bytes), hexString(initiation.noiseBytes),
                hexString(response.noiseBytes),
            ]
        let process = Process()
        process.executableURL = Self.root.appendingPathComponent(".build-py/bin/python3")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, output)

        var reference: [String: String] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { reference[String(parts[0])] = String(parts[1]) }
        }
        XCTAssertEqual(reference["msg1"], hexString(initiation.noiseBytes), "initiation's Noise part (e, encrypted s, encrypted timestamp)")
        XCTAssertEqual(reference["msg2"], hexString(response.noiseBytes), "response's Noise part (e, encrypted empty payload)")
        XCTAssertEqual(reference["initiator_send"], hexString(keys.sendingKey.bytes))
        XCTAssertEqual(reference["initiator_receive"], hexString(keys.receivingKey.bytes))
        XCTAssertEqual(reference["initiator_receive"], hexString(responderKeys.sendingKey.bytes))
        XCTAssertEqual(reference["hash"], hexString(keys.handshakeHash.bytes))
        XCTAssertEqual(reference["their_timestamp"], hexString(Fixture.timestamp.bytes), "noiseprotocol opened our initiation")
        XCTAssertEqual(reference["their_response_payload_len"], "0", "noiseprotocol opened our response")
    }
}
