import CulvertVarlink
import CulvertWire
import XCTest

/// io.culvert.Provider's Codable parameters: the exact wire form, valid against the interface, and back.
final class ProviderWireTests: XCTestCase {
    let interface = try! VarlinkInterface(parsing: VarlinkBundledInterfaces.ioCulvertProvider)  // the bundled text is known-good

    func assertRoundTrip<T: WireValue & Equatable>(_ value: T, _ wire: JSONValue, file: StaticString = #filePath, line: UInt = #line) throws
    {
        XCTAssertEqual(value.jsonValue, wire, file: file, line: line)
        XCTAssertEqual(try T(json: wire), value, file: file, line: line)
    }

    func testStartTunnel() throws {
        let parameters = StartTunnelParameters(
            session: SessionContext(profile: "lab", session: "s-1", interface: "cvt0"), options: ["peer": "10.0.0.1:51820"],
            secrets: ["key": "k"])
        let wire: JSONValue = [
            "session": ["profile": "lab", "session": "s-1", "interface": "cvt0", "protocol": 1], "options": ["peer": "10.0.0.1:51820"],
            "secrets": ["key": "k"],
        ]
        try assertRoundTrip(parameters, wire)
        XCTAssertEqual(parameters.method, .startTunnel)
        XCTAssertNoThrow(try interface.validate(parameters: wire, of: ProviderMethod.startTunnel.member))
    }

    func testImportHandoverCarriesTheState() throws {
        let parameters = StartTunnelParameters(
            session: SessionContext(profile: "lab", session: "s-1", interface: "cvt0"), options: [:], secrets: [:], state: "AAEC")
        XCTAssertEqual(parameters.method, .importHandover)
        XCTAssertEqual(parameters.jsonValue["state"], "AAEC")
        XCTAssertNoThrow(try interface.validate(parameters: parameters.jsonValue, of: ProviderMethod.importHandover.member))
        XCTAssertEqual(try StartTunnelParameters(json: parameters.jsonValue), parameters)
    }

    func testNetworkSettings() throws {
        let settings = NetworkSettings(
            tunnelRemoteAddress: "192.0.2.1", mtu: 1420,
            ipv4: .init(addresses: ["10.9.0.2/24"], includedRoutes: ["0.0.0.0/0"], excludedRoutes: ["192.0.2.1/32"]),
            dns: .init(servers: ["10.9.0.1"], searchDomains: [], matchDomains: ["corp"]))
        let wire: JSONValue = [
            "settings": [
                "tunnelRemoteAddress": "192.0.2.1", "mtu": 1420,
                "ipv4": ["addresses": ["10.9.0.2/24"], "includedRoutes": ["0.0.0.0/0"], "excludedRoutes": ["192.0.2.1/32"]],
                "dns": ["servers": ["10.9.0.1"], "searchDomains": [], "matchDomains": ["corp"]],
            ]
        ]
        try assertRoundTrip(SetTunnelNetworkSettingsParameters(settings: settings), wire)
        XCTAssertNoThrow(try interface.validate(parameters: wire, of: ProviderMethod.setTunnelNetworkSettings.member))
        try assertRoundTrip(SetTunnelNetworkSettingsParameters(settings: nil), ["settings": nil])
        try assertRoundTrip(NetworkSettings(ipv6: .init(addresses: ["fd00::2/64"])), ["ipv6": ["addresses": ["fd00::2/64"]]])
    }

    func testSmallCallsAndReplies() throws {
        try assertRoundTrip(StopTunnelParameters(reason: "superseded"), ["reason": "superseded"])
        try assertRoundTrip(SetReassertingParameters(reasserting: true), ["reasserting": true])
        try assertRoundTrip(CancelTunnelParameters(error: nil), ["error": nil])
        try assertRoundTrip(CancelTunnelParameters(error: "gave up"), ["error": "gave up"])
        try assertRoundTrip(HandleAppMessageParameters(data: "aGk="), ["data": "aGk="])
        try assertRoundTrip(HandleAppMessageReply(data: nil), ["data": nil])
        try assertRoundTrip(PrepareHandoverReply(state: "AAEC"), ["state": "AAEC"])
        let context = SessionContext(profile: "lab", session: "s", interface: "cvt1")
        try assertRoundTrip(
            ReattachReply(session: context), ["session": ["profile": "lab", "session": "s", "interface": "cvt1", "protocol": 1]])
        XCTAssertNoThrow(try interface.validate(reply: ReattachReply(session: context).jsonValue, of: ProviderMethod.reattach.member))
        for (value, method) in [
            (StopTunnelParameters(reason: "x").jsonValue, ProviderMethod.stopTunnel),
            (SetReassertingParameters(reasserting: false).jsonValue, .setReasserting),
            (CancelTunnelParameters(error: nil).jsonValue, .cancelTunnel),
            (HandleAppMessageParameters(data: "").jsonValue, .handleAppMessage),
        ] {
            XCTAssertNoThrow(try interface.validate(parameters: value, of: method.member), "\(method)")
        }
    }

    func testDecodingRefusesTheWrongShape() {
        XCTAssertThrowsError(try StartTunnelParameters(json: ["session": "lab"]))
        XCTAssertThrowsError(try SetReassertingParameters(json: [:]))
    }

    func testProviderErrors() throws {
        let samples: [ProviderError] = [
            .invalidSettings(field: "ipv4.addresses[0]", reason: "invalid_address", description: "no"),
            .settingsFailed(step: "dns", description: "resolvectl failed"), .protectFailed(reason: "not_a_socket", description: "fd"),
            .tunnelFailed(reason: "provider_error", description: "boom"), .handoverFailed(reason: "unsupported", description: "no"),
            .notReady(state: "superseded"),
        ]
        XCTAssertEqual(Set(samples.map(\.name)), Set(ProviderErrorName.allCases.map(\.rawValue)))
        for sample in samples {
            let wire = sample.varlinkError
            let member = try XCTUnwrap(ProviderErrorName(rawValue: wire.name)).member
            XCTAssertNoThrow(try interface.validate(errorParameters: wire.parameters, of: member))
            XCTAssertEqual(ProviderError(wire), sample)
        }
        XCTAssertEqual(
            ProviderError.notReady(state: "handover").varlinkError, VarlinkError("io.culvert.Provider.NotReady", ["state": "handover"]))
        let unknown = VarlinkError("io.culvert.Provider.Throttled", ["seconds": 3])
        XCTAssertEqual(ProviderError(unknown), .other(name: unknown.name, parameters: unknown.parameters))
    }
}
