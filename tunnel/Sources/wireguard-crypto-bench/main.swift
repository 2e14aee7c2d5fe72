// wireguard-crypto-bench: seals 1,420-byte packets on one core with WireGuardCrypto's in-place
// ChaCha20-Poly1305 (BoringSSL, reused context) and with swift-crypto's ChaChaPoly, and prints
// GB/s for each. Run by hand, release build (figures in docs/ARCHITECTURE.md ("The WireGuard provider")):
//   swift build -c release --product wireguard-crypto-bench && .build/release/wireguard-crypto-bench [seconds-per-run] [runs]
// Not a test: timings are never asserted.
import Crypto
import Foundation
import WireGuardCrypto

let packetCount = 1420
let arguments = CommandLine.arguments
let secondsPerRun = arguments.count > 1 ? Double(arguments[1]) ?? 1.0 : 1.0
let runs = arguments.count > 2 ? Int(arguments[2]) ?? 3 : 3

/// Runs `body` repeatedly for about `secondsPerRun` and returns bytes sealed per second.
func measure(_ body: (UInt64) -> Void) -> Double {
    let clock = ContinuousClock()
    var counter: UInt64 = 0
    let start = clock.now
    let deadline = start + .milliseconds(Int(secondsPerRun * 1000))
    while clock.now < deadline {
        for _ in 0..<1000 {
            body(counter)
            counter &+= 1
        }
    }
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Double(counter) * Double(packetCount) / seconds
}

let keyBytes = [UInt8](repeating: 0x42, count: 32)
let inPlace = ChaCha20Poly1305(key: try SecretKey(bytes: keyBytes))
var buffer = [UInt8](repeating: 0xab, count: packetCount + ChaCha20Poly1305.tagCount)
let header = [UInt8](repeating: 0, count: 16)

let swiftKey = Crypto.SymmetricKey(data: keyBytes)
let swiftPlaintext = Data(repeating: 0xab, count: packetCount)
var sink = 0

for run in 1...runs {
    let ours = measure { counter in
        buffer.withUnsafeMutableBytes { raw in
            // Cannot fail: the buffer has room for the tag.
            sink &+= try! inPlace.seal(inPlace: raw, plaintextCount: packetCount, nonce: .init(counter: counter))
        }
    }
    let theirs = measure { counter in
        var nonceBytes = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: counter.littleEndian) { nonceBytes.replaceSubrange(4..<12, with: $0) }
        // Cannot fail: 12-byte nonce, 32-byte key.
        let box = try! ChaChaPoly.seal(swiftPlaintext, using: swiftKey, nonce: ChaChaPoly.Nonce(data: nonceBytes), authenticating: header)
        sink &+= box.ciphertext.count
    }
    print(String(format: "run %d: in-place BoringSSL %.2f GB/s, swift-crypto ChaChaPoly %.2f GB/s", run, ours / 1e9, theirs / 1e9))
}
if sink == 42 { print("") }  // keeps the work observable to the optimiser
