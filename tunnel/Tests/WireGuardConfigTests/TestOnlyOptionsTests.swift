// TestOnlyOptions: `test-timers` is set apart only where allowed (a debug provider), refused with
// its own typed error where not (a release provider), and never produced or accepted by the
// profile schema or the wg-quick import.

import WireGuardConfig
import XCTest

final class TestOnlyOptionsTests: XCTestCase {
    private let options = [
        "address": "10.0.0.2/32", "peer.0.public-key": Fixture.peer0Public, "peer.0.allowed-ips": "0.0.0.0/0",
    ]
    private let secrets = ["private-key": Fixture.privateKey]

    func testAllowedSplitsThePresetOff() throws {
        for preset in TestOnlyOptions.TimerPreset.allCases {
            let split = try TestOnlyOptions.split(options.merging(["test-timers": preset.rawValue]) { $1 }, allowed: true)
            XCTAssertEqual(split.profile, options)
            XCTAssertEqual(split.test.timers, preset)
            XCTAssertNoThrow(try WireGuardConfiguration(options: split.profile, secrets: secrets))
        }
        let plain = try TestOnlyOptions.split(options, allowed: false)
        XCTAssertEqual(plain.profile, options, "a profile without test options passes either way")
        XCTAssertTrue(plain.test.isEmpty)
    }

    func testRefusedWhereNotAllowedNamingTheOption() {
        XCTAssertThrowsError(try TestOnlyOptions.split(options.merging(["test-timers": "shortened"]) { $1 }, allowed: false)) { error in
            XCTAssertEqual(error as? WireGuardConfigError, .testOnlyOption("test-timers"))
            XCTAssertTrue("\(error)".contains("test-timers"), "\(error)")
        }
    }

    func testAnUnknownPresetIsRefusedWithoutQuotingIt() {
        XCTAssertThrowsError(try TestOnlyOptions.split(options.merging(["test-timers": "SECRET-ish"]) { $1 }, allowed: true)) { error in
            guard case .invalidValue(let option, _)? = error as? WireGuardConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(option, "test-timers")
            XCTAssertFalse("\(error)".contains("SECRET-ish"))
        }
    }

    func testTheSchemaAndTheImportNeverCarryIt() throws {
        XCTAssertFalse(WireGuardConfiguration.isProfileOption("test-timers"))
        XCTAssertThrowsError(try WireGuardConfiguration(options: options.merging(["test-timers": "shortened"]) { $1 }, secrets: secrets)) {
            XCTAssertEqual($0 as? WireGuardConfigError, .unknownOption("test-timers"))
        }
        let configuration = try WgQuickParser.parse(Fixture.wg0)
        XCTAssertTrue(Set(configuration.profileOptions.keys).isDisjoint(with: TestOnlyOptions.keys))
        XCTAssertThrowsError(try WgQuickParser.parse(Fixture.minimal(interfaceExtra: "TestTimers = shortened"))) { error in
            XCTAssertEqual((error as? WgQuickError)?.kind, .unknownKey(key: "TestTimers", section: "Interface"))
        }
        XCTAssertThrowsError(try WgQuickParser.parse(Fixture.minimal(interfaceExtra: "test-timers = shortened")))
    }
}
