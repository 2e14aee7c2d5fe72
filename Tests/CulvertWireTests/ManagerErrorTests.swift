import CulvertVarlink
import CulvertWire
import XCTest

final class ManagerErrorTests: XCTestCase {
    /// One value of every declared error.
    static let samples: [ManagerError] = [
        .permissionDenied(action: "SaveProfile", uid: 1000),
        .profileNotFound(name: "lab"),
        .invalidProfile(field: "name", reason: "too_long"),
        .storageFailed(path: "/var/lib/culvert/profiles/lab.json", errno: 28, description: "no space"),
        .subscriberTooSlow(queuedBytes: 5_000_000, limit: 4_194_304),
        .extensionNotFound(identifier: "io.example.vpn"),
        .downgradeRefused(identifier: "io.example.vpn", installed: "1.2.0", offered: "1.1.0"),
        .daemonTooOld(identifier: "io.example.vpn", required: "99.0.0", running: "0.1.0"),
        .publisherMismatch(identifier: "io.example.vpn", installed: "abc", offered: "unsigned"),
        .publisherNotAllowed(identifier: "io.example.vpn", publisher: "unsigned"),
        .bundleRejected(reason: "file_hash_mismatch", path: "bin/provider", description: "file_hash_mismatch: bin/provider"),
        .invalidPath(path: "relative", reason: "not_absolute"),
        .policyInvalid(path: "/etc/culvert/policy.json", description: "not JSON"),
        .extensionNotUsable(identifier: "io.example.vpn", state: "awaiting_approval"),
        .connectFailed(reason: "provider_exited", description: "exit 1", log: ["a", "b"]),
        .sessionNotFound(profile: "lab"),
        .providerUnavailable(profile: "lab", state: "connecting"),
        .providerMessageFailed(profile: "lab", reason: "closed", description: "gone"),
        .extensionInUse(identifier: "io.example.vpn", profiles: ["lab", "office"]),
        .upgradeFailed(
            identifier: "io.example.vpn", installed: "1.0.0", offered: "2.0.0", profile: "lab", reason: "import_failed",
            description: "no", log: ["x"]),
        .fullTunnelInUse(profile: "lab"),
        .reexecFailed(reason: "busy", description: "try again"),
        .invalidUpgradePolicy(policy: "later"),
        .noUpgradeStaged(identifier: "io.example.vpn"),
        .upgradeInProgress(identifier: "io.example.vpn"),
    ]

    func testEverySampleRoundTripsAndMatchesTheInterface() throws {
        let interface = try VarlinkInterface(parsing: ManagerInterfaces.ioCulvertManager)
        XCTAssertEqual(Set(Self.samples.compactMap(\.knownName)), Set(ManagerErrorName.allCases), "a sample for every error")
        for sample in Self.samples {
            let wire = sample.varlinkError
            let name = try XCTUnwrap(sample.knownName)
            XCTAssertEqual(wire.name, name.rawValue)
            XCTAssertEqual(sample.name, name.rawValue)
            XCTAssertNoThrow(try interface.validate(errorParameters: wire.parameters, of: name.member), "\(sample)")
            XCTAssertEqual(ManagerError(wire), sample)
        }
    }

    func testWireShapeIsUnchanged() {
        XCTAssertEqual(
            ManagerError.connectFailed(reason: "r", description: "d", log: ["l"]).varlinkError,
            VarlinkError("io.culvert.Manager.ConnectFailed", ["reason": "r", "description": "d", "log": ["l"]]))
        XCTAssertEqual(
            ManagerError.bundleRejected(reason: "r", path: nil, description: "d").varlinkError,
            VarlinkError("io.culvert.Manager.BundleRejected", ["reason": "r", "description": "d"]), "a nil optional is left out")
        XCTAssertEqual(
            ManagerError.permissionDenied(action: "Connect", uid: 7).varlinkError,
            VarlinkError("io.culvert.Manager.PermissionDenied", ["action": "Connect", "uid": 7]))
    }

    func testOptionalParametersDecodeWhenAbsentOrNull() {
        XCTAssertEqual(
            ManagerError(VarlinkError("io.culvert.Manager.BundleRejected", ["reason": "r", "path": nil, "description": "d"])),
            .bundleRejected(reason: "r", path: nil, description: "d"))
        XCTAssertEqual(
            ManagerError(
                VarlinkError(
                    "io.culvert.Manager.UpgradeFailed",
                    ["identifier": "i", "installed": "1", "offered": "2", "reason": "r", "description": "d", "log": []])),
            .upgradeFailed(identifier: "i", installed: "1", offered: "2", profile: nil, reason: "r", description: "d", log: []))
    }

    func testUnknownErrorsKeepNameAndParameters() {
        let newer = VarlinkError("io.culvert.Manager.QuotaExceeded", ["limit": 3, "detail": ["nested": true]])
        let decoded = ManagerError(newer)
        XCTAssertEqual(decoded, .other(name: "io.culvert.Manager.QuotaExceeded", parameters: ["limit": 3, "detail": ["nested": true]]))
        XCTAssertNil(decoded.knownName)
        XCTAssertEqual(decoded.varlinkError, newer, "re-encodes exactly as received")
        let foreign = VarlinkError("org.varlink.service.MethodNotFound", ["method": "x"])
        XCTAssertEqual(ManagerError(foreign), .other(name: foreign.name, parameters: foreign.parameters))
    }

    func testKnownNameWithWrongShapeIsOther() {
        let malformed = VarlinkError("io.culvert.Manager.ProfileNotFound", ["name": 3])
        XCTAssertEqual(ManagerError(malformed), .other(name: malformed.name, parameters: malformed.parameters))
        let missing = VarlinkError("io.culvert.Manager.ExtensionInUse", ["identifier": "i"])
        XCTAssertEqual(ManagerError(missing), .other(name: missing.name, parameters: missing.parameters))
    }
}
