// The WireGuard provider's handover fuzz target: a handover blob (untrusted bytes that reach a new
// provider version through culvertd) imported into a device with two peers, as the one
// WireGuardDeviceTests' three-device mesh gives device 0, so the corpus seeds are real exports.
// Checks a property, not only the absence of a crash: an accepted blob leaves the device in a state
// whose export imports again to the very same export (nothing half-read, nothing invented), and a
// refused one changes nothing.

import WireGuardCrypto
import WireGuardDevice

enum WireGuardHandoverFuzzTarget {
    private static let now: Duration = .seconds(5)

    /// The key tests derive from `seed`: 32 copies of it, clamped.
    private static func key(_ seed: UInt8) -> PrivateKey {
        PrivateKey(clamping: try! SecretKey(bytes: [UInt8](repeating: seed, count: SecretKey.byteCount)))  // try!: 32 bytes
    }

    private static func device() -> WireGuardDevice {
        let peers = [UInt8(2), 3].map { host in
            PeerConfiguration(
                publicKey: key(host).publicKey, endpoint: Endpoint(address: IPAddress(192, 0, 2, host), port: 51820),
                allowedIPs: [IPPrefix(IPAddress(10, 0, 0, host), 32)!])  // /32 is valid
        }
        return WireGuardDevice(configuration: DeviceConfiguration(privateKey: key(1), peers: peers))
    }

    static func blob(_ bytes: [UInt8]) {
        let fresh = device()
        var target = fresh
        do throws(DeviceHandoverError) {
            try target.importHandover(bytes, now: now)
        } catch {
            precondition(target.exportHandover(now: now) == fresh.exportHandover(now: now), "a refused blob changed the device: \(error)")
            return
        }
        let exported = target.exportHandover(now: now)
        var again = fresh
        do throws(DeviceHandoverError) {
            try again.importHandover(exported, now: now)
        } catch {
            preconditionFailure("an accepted state's export was refused: \(error)")
        }
        precondition(again.exportHandover(now: now) == exported, "export → import → export changed the state")
        precondition(again.indicesInUse == target.indicesInUse, "the receiver-index map differs")
    }
}
