// HandshakeLoad and the device's load path: the decision as pure logic (threshold per window, the
// hold time after, a clock that goes back), then over the simulated network a flood of junk
// initiations with a valid mac1 puts a responder with a load decision under load: it answers the
// flood and the real peer's first initiation with cookie replies, the peer's retry carries mac2 and
// completes, and a second after the flood the responder does Diffie-Hellman again. Junk without a
// valid mac1 does not count; without a load decision `underLoad` is what the caller sets.
import Foundation
import WireGuardCrypto
import WireGuardDevice
import WireGuardProtocol
import XCTest

final class HandshakeLoadTests: XCTestCase {
    private let a = 0
    private let b = 1

    func testThresholdIsPerWindow() {
        var load = HandshakeLoad(threshold: 4, window: .milliseconds(100), holdTime: .seconds(1))
        XCTAssertFalse(load.record(handshakes: 4, now: .seconds(10)), "at the threshold: not yet")
        XCTAssertFalse(load.record(handshakes: 0, now: .seconds(10) + .milliseconds(50)), "nothing counted")
        XCTAssertEqual(load.countInWindow, 4)
        // The next window starts from zero: 4 + 4 in two windows is not over.
        XCTAssertFalse(load.record(handshakes: 4, now: .seconds(10) + .milliseconds(100)))
        XCTAssertEqual(load.countInWindow, 4)
        XCTAssertEqual(load.overloadedWindows, 0)
        XCTAssertTrue(load.record(handshakes: 1, now: .seconds(10) + .milliseconds(199)), "one over, inside the window")
        XCTAssertEqual(load.overloadedWindows, 1)
        XCTAssertTrue(load.record(handshakes: 3, now: .seconds(10) + .milliseconds(199)))
        XCTAssertEqual(load.overloadedWindows, 1, "one window over counts once")
    }

    func testHoldTimeAfterTheLastOverloadedWindow() {
        var load = HandshakeLoad(threshold: 2, window: .milliseconds(100), holdTime: .seconds(1))
        let start = Duration.seconds(5)
        XCTAssertTrue(load.record(handshakes: 3, now: start))
        XCTAssertEqual(load.underLoadUntil, start + .seconds(1))
        XCTAssertTrue(load.isUnderLoad(at: start + .milliseconds(999)))
        XCTAssertFalse(load.isUnderLoad(at: start + .seconds(1)), "the hold ends exactly a second after")
        // A flood that goes on extends the hold from its last overloaded window.
        XCTAssertTrue(load.record(handshakes: 3, now: start + .milliseconds(600)))
        XCTAssertEqual(load.underLoadUntil, start + .milliseconds(1600))
        XCTAssertTrue(load.isUnderLoad(at: start + .milliseconds(1500)))
        // A quiet trickle after it does not extend it, and the device leaves the load on time.
        XCTAssertTrue(load.record(handshakes: 1, now: start + .milliseconds(1000)))
        XCTAssertEqual(load.underLoadUntil, start + .milliseconds(1600))
        XCTAssertFalse(load.record(handshakes: 1, now: start + .milliseconds(1600)))
        XCTAssertEqual(load.overloadedWindows, 2)
    }

    func testClockGoingBackStartsANewWindowAndHugeCountsSaturate() {
        var load = HandshakeLoad(threshold: 2, window: .milliseconds(100), holdTime: .seconds(1))
        XCTAssertFalse(load.record(handshakes: 2, now: .seconds(7)))
        XCTAssertFalse(load.record(handshakes: 2, now: .seconds(6)), "an earlier time does not add to a later window")
        XCTAssertEqual(load.windowStart, .seconds(6))
        XCTAssertTrue(load.record(handshakes: .max, now: .seconds(6)))
        XCTAssertEqual(load.countInWindow, .max, "saturates instead of trapping")
        XCTAssertTrue(load.record(handshakes: .max, now: .seconds(6)))
        XCTAssertFalse(HandshakeLoad(threshold: -1, window: .zero, holdTime: .zero).isUnderLoad(at: .zero))
    }

    func testClassifiesHandshakeMessagesByTypeWord() {
        func classify(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { WireGuardDevice.isHandshakeMessage($0) } }
        XCTAssertTrue(classify([1, 0, 0, 0] + [UInt8](repeating: 7, count: 144)))
        XCTAssertTrue(classify([2, 0, 0, 0]))
        XCTAssertFalse(classify([3, 0, 0, 0]), "cookie replies are not Diffie-Hellman work")
        XCTAssertFalse(classify([4, 0, 0, 0] + [UInt8](repeating: 0, count: 28)))
        XCTAssertFalse(classify([1, 0, 1, 0]), "reserved bytes set")
        XCTAssertFalse(classify([1, 0, 0]))
        XCTAssertFalse(classify([]))
    }

    /// An initiation of random content whose mac1 is right for `responder` (what the integration
    /// flood sends): it passes the cookie gate's mac1 check and fails the Noise handshake.
    private func junkInitiation(to responder: PublicKey, _ generator: inout SeededGenerator, now: Duration) throws -> [UInt8] {
        var bytes: [UInt8] = [1, 0, 0, 0]
        for _ in 4..<HandshakeInitiation.byteCount { bytes.append(UInt8.random(in: 0...255, using: &generator)) }
        var message = try HandshakeInitiation(parsing: bytes)
        var macs = CookieGenerator(remotePublicKey: responder)
        macs.addMACs(to: &message, now: now)
        return message.bytes
    }

    private func feed(_ datagram: [UInt8], to device: inout WireGuardDevice, from source: Endpoint, now: Duration) -> InboundResult {
        var generator = SeededGenerator(state: 3)
        return device.receive(datagram, from: source, now: now, using: &generator).result
    }

    func testWithoutALoadDecisionUnderLoadIsWhatTheCallerSets() throws {
        var network = SimulatedNetwork.mesh(2, timers: .shortened)
        XCTAssertNil(network.devices[b].handshakeLoad)
        let attacker = Endpoint(address: IPAddress(203, 0, 113, 9), port: 4000)
        var junk = SeededGenerator(state: 5)
        let keyB = network.devices[b].publicKey
        for _ in 0..<(HandshakeLoad.standardThreshold * 2) {
            let message = try junkInitiation(to: keyB, &junk, now: network.now)
            XCTAssertEqual(feed(message, to: &network.devices[b], from: attacker, now: network.now).dropped, .handshakeFailed)
        }
        XCTAssertFalse(network.devices[b].isUnderLoad(at: network.now))
        network.devices[b].underLoad = true
        XCTAssertTrue(network.devices[b].isUnderLoad(at: network.now))
        let message = try junkInitiation(to: keyB, &junk, now: network.now)
        XCTAssertNil(feed(message, to: &network.devices[b], from: attacker, now: network.now).dropped, "a cookie reply")
        XCTAssertEqual(network.devices[b].cookieRepliesSent, 1)
    }

    func testMessagesWithoutAValidMac1DoNotRaiseTheLoad() throws {
        var network = SimulatedNetwork.mesh(2, timers: .shortened)
        network.devices[b].handshakeLoad = .standard
        let attacker = Endpoint(address: IPAddress(203, 0, 113, 9), port: 4000)
        var junk = SeededGenerator(state: 7)
        // Valid-looking initiations for another key: 10 × the threshold within one window.
        let stranger = SimulatedNetwork.key(77).publicKey
        for _ in 0..<(HandshakeLoad.standardThreshold * 10) {
            let message = try junkInitiation(to: stranger, &junk, now: network.now)
            XCTAssertEqual(feed(message, to: &network.devices[b], from: attacker, now: network.now).dropped, .invalidMAC1)
        }
        XCTAssertFalse(network.devices[b].underLoad)
        XCTAssertEqual(network.devices[b].handshakeLoad?.countInWindow ?? -1, 0)
        XCTAssertEqual(network.devices[b].cookieRepliesSent, 0)
        // The real peer's handshake needs no cookie.
        network.sendPacket(from: a, toHost: 2)
        network.run()
        XCTAssertFalse(network.log.contains { $0.type == 3 })
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 1)
    }

    func testFloodMakesTheResponderAnswerWithCookiesAndThePeerStillCompletes() throws {
        var network = SimulatedNetwork.mesh(2, timers: .shortened)
        network.devices[b].handshakeLoad = .standard  // as the provider does
        let keyA = network.devices[a].publicKey
        let keyB = network.devices[b].publicKey
        let attacker = Endpoint(address: IPAddress(203, 0, 113, 9), port: 4000)
        var junk = SeededGenerator(state: 99)
        let threshold = HandshakeLoad.standardThreshold
        var replies = 0
        for sent in 0..<(threshold + 10) {
            let result = feed(
                try junkInitiation(to: keyB, &junk, now: network.now), to: &network.devices[b], from: attacker, now: network.now)
            if sent < threshold {
                XCTAssertEqual(result.dropped, .handshakeFailed, "not yet under load: the handshake is attempted (message \(sent))")
            } else {
                XCTAssertNil(result.dropped)
                guard case .send(let reply, let to)? = result.actions.first else { return XCTFail("no cookie reply to message \(sent)") }
                XCTAssertEqual(reply.first, MessageType.cookieReply.rawValue)
                XCTAssertEqual(to, attacker, "the cookie goes to the sender's address")
                replies += 1
            }
        }
        XCTAssertEqual(replies, 10)
        XCTAssertTrue(network.devices[b].underLoad)
        XCTAssertTrue(network.devices[b].isUnderLoad(at: network.now))
        XCTAssertEqual(network.devices[b].cookieRepliesSent, 10)
        XCTAssertEqual(network.devices[b].drops[.handshakeFailed], UInt64(threshold))

        // The real peer's first initiation gets a cookie, its retry (mac2) the response.
        network.sendPacket(from: a, toHost: 2)
        network.run()
        XCTAssertEqual(network.devices[b].cookieRepliesSent, 11)
        XCTAssertEqual(network.devices[a].statistics(of: keyB)?.cookieRepliesReceived, 1)
        XCTAssertFalse(network.log.contains { $0.type == 2 })
        network.advance(by: .milliseconds(100))
        XCTAssertTrue(network.log.contains { $0.type == 2 }, "the retry with mac2 was answered under load")
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 1)
        XCTAssertEqual(network.devices[b].statistics(of: keyA)?.sessionsDerived, 1)
        XCTAssertEqual(network.devices[b].cookieRepliesSent, 11, "a message with a current mac2 gets no cookie")

        // A second after the flood the responder no longer asks for cookies.
        let later = network.now + HandshakeLoad.standardHoldTime
        XCTAssertFalse(network.devices[b].isUnderLoad(at: later))
        let result = feed(try junkInitiation(to: keyB, &junk, now: later), to: &network.devices[b], from: attacker, now: later)
        XCTAssertEqual(result.dropped, .handshakeFailed)
        XCTAssertFalse(network.devices[b].underLoad)
        XCTAssertEqual(network.devices[b].cookieRepliesSent, 11)
    }

    func testShedHandshakesAreCountedAndCarriedAcrossAHandover() throws {
        var network = SimulatedNetwork.mesh(3, timers: .standard)
        network.devices[0].shedHandshakes(0)
        XCTAssertEqual(network.devices[0].drops.total, 0)
        network.devices[0].shedHandshakes(5)
        XCTAssertEqual(network.devices[0].drops[.handshakeShed], 5)
        XCTAssertEqual(network.devices[0].drops.total, 5)
        let fresh = SimulatedNetwork.mesh(3, timers: .standard).devices[0]
        var successor = fresh
        try successor.importHandover(network.devices[0].exportHandover(now: .seconds(1)), now: .seconds(1))
        XCTAssertEqual(successor.drops[.handshakeShed], 5)
        XCTAssertEqual(successor.cookieRepliesSent, 0, "cookie replies sent are not carried (a status figure only)")
        // The corpus seed with the shed counter (an older export, 18 counters, patched to 19) is accepted.
        let seed = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../../Fuzz/corpus/wireguard-handover/exported-two-peers-handshake-shed")
        var seeded = fresh
        try seeded.importHandover(Array(try Data(contentsOf: seed)), now: .seconds(5))
        XCTAssertEqual(seeded.drops[.handshakeShed], 5)
    }
}
