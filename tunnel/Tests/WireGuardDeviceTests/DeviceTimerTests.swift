// WireGuardDevice timers on the simulated clock with WireGuardTimers.shortened: rekey after time
// and after messages, reject after time, keepalive, persistent keepalive, handshake retry with
// jitter and giving up, and key zeroing. Time is simulated: no assertion depends on real timing.
import WireGuardCrypto
import WireGuardDevice
import XCTest

final class DeviceTimerTests: XCTestCase {
    private let a = 0
    private let b = 1
    private let timers = WireGuardTimers.shortened

    private func established() -> SimulatedNetwork {
        var network = SimulatedNetwork.mesh(2, timers: timers)
        network.sendPacket(from: a, toHost: 2)
        network.run()
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 1)
        return network
    }

    private func currentIndex(_ network: SimulatedNetwork, at device: Int, peer: Int) -> UInt32? {
        network.devices[device].keypairs(of: network.devices[peer].publicKey)?.current?.localIndex
    }

    func testStandardConstants() {
        let standard = WireGuardTimers.standard
        XCTAssertEqual(standard.rekeyAfterMessages, 1 << 60)
        XCTAssertEqual(standard.rejectAfterMessages, UInt64.max - (1 << 13))  // 2^64 − 2^13 − 1
        XCTAssertEqual(standard.rekeyAfterTime, .seconds(120))
        XCTAssertEqual(standard.rejectAfterTime, .seconds(180))
        XCTAssertEqual(standard.rekeyAttemptTime, .seconds(90))
        XCTAssertEqual(standard.rekeyTimeout, .seconds(5))
        XCTAssertEqual(standard.rekeyTimeoutJitter, .milliseconds(333))
        XCTAssertEqual(standard.keepaliveTimeout, .seconds(10))
        XCTAssertEqual(standard.zeroKeysAfter, standard.rejectAfterTime * 3)
        XCTAssertEqual(standard.maxHandshakeAttempts, 18)
    }

    func testRekeyAfterTime() {
        var network = established()
        let first = currentIndex(network, at: a, peer: b)
        network.now += timers.rekeyAfterTime  // idle: no timers due in between that matter here
        let result = network.sendPacket(from: a, toHost: 2)
        XCTAssertNotNil(result.messageCount, "the old session still sends")
        XCTAssertEqual(result.actions.count, 1, "and a new handshake starts")
        network.run()
        XCTAssertNotEqual(currentIndex(network, at: a, peer: b), first)
        XCTAssertEqual(network.devices[a].keypairs(of: network.devices[b].publicKey)?.previous?.localIndex, first)
        network.sendPacket(from: a, toHost: 2)
        network.sendPacket(from: b, toHost: 1)
        network.run()
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 3)
        XCTAssertEqual(network.deliveredPackets(at: a, fromHost: 2).count, 1)
        XCTAssertEqual(network.devices[b].drops.total + network.devices[a].drops.total, 0)
    }

    func testRekeyAfterMessagesAndRejectAfterMessages() {
        var network = established()
        let first = currentIndex(network, at: a, peer: b)
        network.now += timers.rekeyTimeout  // past the initiation rate limit (timers due meanwhile are not needed)
        network.filter = { $0.type != 1 }  // lose initiations: the old session must run out
        var initiated = 0
        var sealed = 0
        for _ in 0..<Int(timers.rejectAfterMessages) + 10 {
            let result = network.sendPacket(from: a, toHost: 2, payloadCount: 0)
            if result.messageCount != nil { sealed += 1 }
            initiated += result.actions.count
        }
        network.run()
        XCTAssertEqual(sealed, Int(timers.rejectAfterMessages) - 1, "one counter went to the confirming packet")
        XCTAssertEqual(initiated, 1, "rekey at REKEY_AFTER_MESSAGES, rate-limited afterwards")
        XCTAssertEqual(network.initiations(from: a).count, 2)
        XCTAssertEqual(network.devices[a].queuedCount(of: network.devices[b].publicKey), 11)
        XCTAssertEqual(currentIndex(network, at: a, peer: b), first)
        network.filter = { _ in true }
        network.advance(by: timers.rekeyTimeout * 2)  // the retransmission gets through
        XCTAssertNotEqual(currentIndex(network, at: a, peer: b), first)
        XCTAssertEqual(network.devices[a].queuedCount(of: network.devices[b].publicKey), 0)
        XCTAssertEqual(network.deliveredPackets(at: b, fromHost: 1).count, 1 + Int(timers.rejectAfterMessages) - 1 + 11)
    }

    func testRejectAfterTime() {
        var network = established()
        network.sendPacket(from: a, toHost: 2)
        guard let late = network.inFlight.popLast() else { return XCTFail("nothing sent") }
        network.now += timers.rejectAfterTime
        let (_, result) = network.devices[b].receive(late.bytes, from: late.from, now: network.now, using: &network.generator)
        XCTAssertEqual(result.dropped, .expiredSession)
        network.filter = { $0.type != 1 }
        let queued = network.sendPacket(from: a, toHost: 2)
        XCTAssertTrue(queued.queued, "an expired session does not send")
        XCTAssertEqual(queued.actions.count, 1)
    }

    func testKeepaliveAfterReceivedData() {
        var network = established()
        let keyA = network.devices[a].publicKey
        XCTAssertEqual(network.devices[b].statistics(of: keyA)?.keepalivesSent, 0)
        network.advance(by: timers.keepaliveTimeout)
        XCTAssertEqual(network.devices[b].statistics(of: keyA)?.keepalivesSent, 1, "B had nothing to say: it sends a keepalive")
        XCTAssertEqual(network.devices[a].statistics(of: network.devices[b].publicKey)?.keepalivesReceived, 1)
        network.sendPacket(from: a, toHost: 2)
        network.run()
        network.sendPacket(from: b, toHost: 1)  // an answer in time replaces the keepalive
        network.run()
        network.advance(by: timers.keepaliveTimeout)
        XCTAssertEqual(network.devices[b].statistics(of: keyA)?.keepalivesSent, 1)
    }

    func testPersistentKeepalive() {
        let interval = Duration.milliseconds(250)
        var network = SimulatedNetwork.mesh(2, timers: timers, persistentKeepalive: interval)
        network.advance(to: .milliseconds(1))  // first tick: the handshake starts by itself
        XCTAssertNotNil(currentIndex(network, at: a, peer: b))
        XCTAssertNotNil(currentIndex(network, at: b, peer: a))
        let keyB = network.devices[b].publicKey
        let before = network.devices[a].statistics(of: keyB)?.keepalivesSent ?? 0
        network.advance(by: interval * 4)
        let sent = (network.devices[a].statistics(of: keyB)?.keepalivesSent ?? 0) - before
        XCTAssertGreaterThanOrEqual(sent, 3)
        XCTAssertLessThanOrEqual(sent, 5)
        XCTAssertEqual(network.devices[a].drops.total + network.devices[b].drops.total, 0)
    }

    func testHandshakeRetryWithJitterThenGiveUpThenZeroKeys() {
        var network = established()
        let keyB = network.devices[b].publicKey
        network.filter = { _ in false }  // B is gone
        network.now += timers.rejectAfterTime
        network.sendPacket(from: a, toHost: 2)
        network.advance(by: timers.rekeyAttemptTime + timers.rekeyTimeout * 4)
        let times = network.log.filter { $0.type == 1 && $0.from == network.endpoints[a] }.dropFirst().count
        XCTAssertEqual(times, 1 + timers.maxHandshakeAttempts, "first initiation plus every retry")
        XCTAssertEqual(network.events[a], [.handshakeGaveUp(keyB, droppedPackets: 1)])
        XCTAssertFalse(network.devices[a].isHandshaking(with: keyB))
        XCTAssertEqual(network.devices[a].queuedCount(of: keyB), 0)
        network.advance(by: timers.zeroKeysAfter)
        XCTAssertTrue(network.events[a].contains(.keysZeroed(keyB)))
        XCTAssertNil(network.devices[a].keypairs(of: keyB)?.current)
        XCTAssertEqual(network.devices[a].indicesInUse, 0)
        XCTAssertNil(network.devices[a].nextDeadline, "nothing left to do")
    }

    func testRetryIntervalsAreJittered() {
        var network = SimulatedNetwork.mesh(2, timers: timers)
        network.filter = { _ in false }
        var sendTimes: [Duration] = []
        network.sendPacket(from: a, toHost: 2)
        sendTimes.append(network.now)
        for _ in 0..<6 {
            guard let deadline = network.devices[a].nextDeadline else { return XCTFail("no retransmit armed") }
            network.now = deadline
            let actions = network.devices[a].tick(now: network.now, using: &network.generator)
            XCTAssertEqual(actions.count, 1)
            sendTimes.append(network.now)
        }
        let gaps = zip(sendTimes.dropFirst(), sendTimes).map { $0 - $1 }
        for gap in gaps {
            XCTAssertGreaterThanOrEqual(gap, timers.rekeyTimeout)
            XCTAssertLessThanOrEqual(gap, timers.rekeyTimeout + timers.rekeyTimeoutJitter)
        }
        XCTAssertGreaterThan(Set(gaps).count, 1, "jitter varies the intervals")
    }
}
