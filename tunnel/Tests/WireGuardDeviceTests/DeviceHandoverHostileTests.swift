// WireGuardDevice.importHandover against hostile blobs: wrong magic or version, every truncation,
// trailing bytes, oversize, another interface key, another peer set, too many peers, flags and
// offsets out of range, a receiver index used twice, counters past REJECT_AFTER_MESSAGES. Each is a
// typed DeviceHandoverError and leaves the device exactly as it was (its export is unchanged).
import WireGuardCrypto
import WireGuardProtocol
import XCTest

@testable import WireGuardDevice

final class DeviceHandoverHostileTests: XCTestCase {
    private let now: Duration = .seconds(5)

    /// A running two-peer device (mesh of 3, device 0, sessions with both) and its blob.
    private func running() -> (SimulatedNetwork, [UInt8]) {
        var network = SimulatedNetwork.mesh(3, timers: .standard)
        network.sendPacket(from: 0, toHost: 2)
        network.sendPacket(from: 0, toHost: 3)
        network.run()
        network.now = now
        XCTAssertEqual(network.devices[0].indicesInUse, 2)
        return (network, network.devices[0].exportHandover(now: now))
    }

    /// A fresh device 0 of the 3-mesh (what the next version builds from the same profile).
    private func fresh(_ network: SimulatedNetwork) -> WireGuardDevice {
        var peers: [PeerConfiguration] = []
        for host in [UInt8(2), 3] {
            peers.append(
                PeerConfiguration(
                    publicKey: SimulatedNetwork.key(host).publicKey, endpoint: SimulatedNetwork.endpoint(host),
                    allowedIPs: [IPPrefix(SimulatedNetwork.inner(host), 32)!]))  // /32 is valid
        }
        return WireGuardDevice(configuration: DeviceConfiguration(privateKey: SimulatedNetwork.key(1), peers: peers))
    }

    /// Imports `blob` into a fresh device and returns the error; fails the test if it was accepted or changed the device.
    private func refusal(_ blob: [UInt8], into device: WireGuardDevice, file: StaticString = #filePath, line: UInt = #line)
        -> DeviceHandoverError?
    {
        var target = device
        let before = target.exportHandover(now: now)
        let indices = target.indicesInUse
        do throws(DeviceHandoverError) {
            try target.importHandover(blob, now: now)
            XCTFail("accepted", file: file, line: line)
            return nil
        } catch {
            XCTAssertEqual(target.exportHandover(now: now), before, "half-applied: \(error)", file: file, line: line)
            XCTAssertEqual(target.indicesInUse, indices, file: file, line: line)
            return error
        }
    }

    private func modified(_ blob: [UInt8], _ change: (inout DeviceHandoverState) -> Void) throws -> [UInt8] {
        var state = try DeviceHandoverState.decode(blob)
        change(&state)
        return state.encoded()
    }

    func testTheUnmodifiedBlobIsAccepted() throws {
        let (network, blob) = running()
        var device = fresh(network)
        try device.importHandover(blob, now: now)
        XCTAssertEqual(device.indicesInUse, 2)
        XCTAssertEqual(device.exportHandover(now: now), blob)
    }

    func testFramingErrors() throws {
        let (network, blob) = running()
        let device = fresh(network)
        XCTAssertEqual(refusal([], into: device), .notAHandoverState)
        XCTAssertEqual(refusal(Array("CWGX".utf8) + blob.dropFirst(4), into: device), .notAHandoverState)
        var version = blob
        version[4] = 2
        XCTAssertEqual(refusal(version, into: device), .unsupportedVersion(2))
        XCTAssertEqual(refusal(blob + [0], into: device), .trailingBytes(count: 1))
        let huge = blob + [UInt8](repeating: 0, count: DeviceHandoverState.maximumByteCount)
        XCTAssertEqual(refusal(huge, into: device), .tooLarge(count: huge.count, maximum: DeviceHandoverState.maximumByteCount))
    }

    func testEveryTruncationIsRefused() throws {
        let (network, blob) = running()
        let device = fresh(network)
        for count in 0..<blob.count {
            let error = refusal(Array(blob[0..<count]), into: device)
            if count < 6 {
                XCTAssertTrue(error == .notAHandoverState || error == .truncated(at: 4), "\(count): \(String(describing: error))")
            } else {
                guard case .truncated? = error else { return XCTFail("\(count): \(String(describing: error))") }
            }
        }
    }

    func testAnotherInterfaceOrPeerSetIsRefused() throws {
        let (network, blob) = running()
        // Device 1's profile: another private key.
        XCTAssertEqual(refusal(blob, into: network.devices[1]), .interfaceKeyMismatch)
        // Same key, one peer fewer.
        let onePeer = WireGuardDevice(
            configuration: DeviceConfiguration(
                privateKey: SimulatedNetwork.key(1), peers: [PeerConfiguration(publicKey: SimulatedNetwork.key(2).publicKey)]))
        XCTAssertEqual(refusal(blob, into: onePeer), .peerSetMismatch)
        // Same count, one peer replaced by a stranger; and one peer listed twice.
        let device = fresh(network)
        let stranger = try modified(blob) { $0.peers[1].publicKey = SimulatedNetwork.key(9).publicKey }
        XCTAssertEqual(refusal(stranger, into: device), .peerSetMismatch)
        let twice = try modified(blob) { state in
            let first = state.peers[0].publicKey
            state.peers[1].publicKey = first
        }
        XCTAssertEqual(refusal(twice, into: device), .peerSetMismatch)
    }

    func testLimitsAndRangesAreEnforced() throws {
        let (network, blob) = running()
        let device = fresh(network)
        let peerCountAt = 6 + 32 + 1 + 8 + 2 + 8 * DropReason.allCases.count  // no cookie secret was made
        var many = blob
        many[peerCountAt] = 1
        many[peerCountAt + 1] = 1  // 257
        XCTAssertEqual(refusal(many, into: device), .tooManyPeers(count: 257, maximum: DeviceHandoverState.maximumPeers))
        var drops = blob
        drops[6 + 32 + 1 + 8] = UInt8(DropReason.allCases.count + 1)
        XCTAssertEqual(
            refusal(drops, into: device), .tooManyPeers(count: DropReason.allCases.count + 1, maximum: DropReason.allCases.count))
        var flag = blob
        flag[6 + 32] = 2  // the cookie secret's present flag
        XCTAssertEqual(refusal(flag, into: device), .invalidField("cookieSecret", at: 38))

        let far = DeviceHandoverState.maximumOffsetNanoseconds + 1
        let lateTimer = try modified(blob) { $0.peers[0].zeroKeysAt = far }
        guard case .invalidField("zeroKeysAt", _)? = refusal(lateTimer, into: device) else { return XCTFail("zeroKeysAt") }
        let oldSession = try modified(blob) { $0.peers[0].keypairs[0]?.createdAt = -far }
        guard case .invalidField("createdAt", _)? = refusal(oldSession, into: device) else { return XCTFail("createdAt") }
        let badFamily = try modified(blob) { $0.peers[0].endpoint = Endpoint(address: IPAddress(v6High: 1, low: 2), port: 1) }
        var family = badFamily
        let familyAt = peerCountAt + 2 + PublicKey.byteCount  // the first peer's endpoint family
        XCTAssertEqual(family[familyAt], 6)
        family[familyAt] = 5
        guard case .invalidField("endpoint", _)? = refusal(family, into: device) else { return XCTFail("endpoint family") }
    }

    func testSessionsAreCheckedAgainstEachOtherAndTheLimits() throws {
        let (network, blob) = running()
        let device = fresh(network)
        let reused = try modified(blob) { state in
            let taken = state.peers[0].keypairs[0]?.localIndex ?? 0
            state.peers[1].keypairs[0]?.localIndex = taken
        }
        XCTAssertEqual(refusal(reused, into: device), .duplicateIndex)
        let limit = WireGuardTimers.standard.rejectAfterMessages
        let spent = try modified(blob) { $0.peers[0].keypairs[0]?.sendCounter = limit + 1 }
        XCTAssertEqual(refusal(spent, into: device), .counterBeyondLimit)
        let window = try modified(blob) { $0.peers[0].keypairs[0]?.replayGreatest = limit }
        XCTAssertEqual(refusal(window, into: device), .counterBeyondLimit)
        // The blob ends with the last peer's current session (… isInitiator, createdAt) and the
        // absent flags of its previous and next slots.
        XCTAssertEqual(blob.suffix(2), [0, 0])
        var slotFlag = blob
        slotFlag[blob.count - 1] = 7
        XCTAssertEqual(refusal(slotFlag, into: device), .invalidField("keypair", at: blob.count - 1))
        var initiator = blob
        initiator[blob.count - 11] = 7
        XCTAssertEqual(refusal(initiator, into: device), .invalidField("isInitiator", at: blob.count - 11))
    }

    func testTheLargestStateFitsTheLimit() throws {
        let (_, blob) = running()
        var state = try DeviceHandoverState.decode(blob)
        var peer = state.peers[0]
        peer.endpoint = Endpoint(address: IPAddress(v6High: .max, low: .max), port: 1)
        peer.cookie = CookieGenerator.HandoverCookie(lastMAC1: .zero, cookie: .zero)
        let session = try XCTUnwrap(peer.keypairs[0])
        state.cookieSecret = .zero
        state.peers = (0..<DeviceHandoverState.maximumPeers).map { index in
            var copy = peer
            copy.publicKey = SimulatedNetwork.key(UInt8(truncatingIfNeeded: index)).publicKey
            copy.keypairs = (0..<3).map { slot in
                var keypair = session
                keypair.localIndex = UInt32(index * 3 + slot)
                return keypair
            }
            return copy
        }
        let largest = state.encoded()
        print("handover state: \(blob.count) bytes for 2 peers with one session each; \(largest.count) bytes at most")
        XCTAssertLessThanOrEqual(largest.count, DeviceHandoverState.maximumByteCount)
        XCTAssertEqual(try DeviceHandoverState.decode(largest).encoded(), largest)
    }

    func testRandomCorruptionNeverTrapsAndNeverHalfApplies() throws {
        let (network, blob) = running()
        let device = fresh(network)
        var random = SeededGenerator(state: 77)
        var refused = 0
        for _ in 0..<300 {
            var corrupt = blob
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                corrupt[Int.random(in: 0..<corrupt.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            var target = device
            do throws(DeviceHandoverError) {
                try target.importHandover(corrupt, now: now)
            } catch {
                refused += 1
                XCTAssertEqual(target.indicesInUse, 0)
            }
        }
        XCTAssertGreaterThan(refused, 0, "some corruptions hit flags, keys or counts")
    }
}
