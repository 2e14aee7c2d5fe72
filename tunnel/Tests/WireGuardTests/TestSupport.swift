// Helpers for WireGuardTests: hex, fixed keys, a seeded generator (deterministic tests).
import CulvertCore
import WireGuardCrypto
import XCTest

func hex(_ string: String) -> [UInt8] {
    let digits = Array(string.utf8).filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") }
    precondition(digits.count % 2 == 0, "odd hex string")
    func value(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: preconditionFailure("bad hex digit")
        }
    }
    return stride(from: 0, to: digits.count, by: 2).map { value(digits[$0]) << 4 | value(digits[$0 + 1]) }
}

func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

extension SecretKey {
    var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
    /// 32 copies of `byte` (test keys).
    static func filled(_ byte: UInt8) -> SecretKey { try! SecretKey(bytes: [UInt8](repeating: byte, count: 32)) }  // 32 bytes
}

/// The seeded generator tests use (SplitMix64, CulvertCore), under the name they call it by.
typealias SeededGenerator = SeededRandomNumberGenerator

extension SeededRandomNumberGenerator {
    init(state: UInt64) { self.init(seed: state) }
}
