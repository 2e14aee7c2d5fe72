import CulvertVarlink
import CulvertWire
import XCTest

/// The generated names (scripts/varlink-names) against the interfaces as the real IDL parser reads them.
final class WireNamesTests: XCTestCase {
    func interface(_ text: String) throws -> VarlinkInterface { try VarlinkInterface(parsing: text) }

    func check<Method: RawRepresentable & CaseIterable, Failure: RawRepresentable & CaseIterable>(
        _ text: String, methods: Method.Type, errors: Failure.Type, interfaceName: String, file: StaticString = #filePath,
        line: UInt = #line
    ) throws where Method.RawValue == String, Failure.RawValue == String {
        let parsed = try interface(text)
        XCTAssertEqual(parsed.name, interfaceName, file: file, line: line)
        XCTAssertEqual(
            Method.allCases.map(\.rawValue), parsed.methodNames.map { "\(parsed.name).\($0)" }, "every method, in order", file: file,
            line: line)
        XCTAssertEqual(
            Failure.allCases.map(\.rawValue), parsed.errorNames.map { "\(parsed.name).\($0)" }, "every error, in order", file: file,
            line: line)
        for method in Method.allCases {
            XCTAssertEqual(Method(rawValue: method.rawValue)?.rawValue, method.rawValue, file: file, line: line)
        }
        for error in Failure.allCases {
            XCTAssertEqual(Failure(rawValue: error.rawValue)?.rawValue, error.rawValue, file: file, line: line)
        }
    }

    func testProviderNames() throws {
        try check(
            VarlinkBundledInterfaces.ioCulvertProvider, methods: ProviderMethod.self, errors: ProviderErrorName.self,
            interfaceName: "io.culvert.Provider")
        XCTAssertEqual(ProviderMethod.interface, "io.culvert.Provider")
        XCTAssertEqual(ProviderMethod.startTunnel.rawValue, "io.culvert.Provider.StartTunnel")
        XCTAssertEqual(ProviderMethod.startTunnel.member, "StartTunnel")
        XCTAssertEqual(ProviderErrorName.notReady.rawValue, "io.culvert.Provider.NotReady")
    }

    func testManagerNames() throws {
        try check(
            ManagerInterfaces.ioCulvertManager, methods: ManagerMethod.self, errors: ManagerErrorName.self,
            interfaceName: "io.culvert.Manager")
        XCTAssertEqual(ManagerMethod.interface, "io.culvert.Manager")
        XCTAssertEqual(ManagerMethod.sendProviderMessage.rawValue, "io.culvert.Manager.SendProviderMessage")
        XCTAssertEqual(ManagerErrorName.profileNotFound.rawValue, "io.culvert.Manager.ProfileNotFound")
        XCTAssertEqual(ManagerErrorName.profileNotFound.member, "ProfileNotFound")
        XCTAssertNil(ManagerMethod(rawValue: "io.culvert.Manager.Nonexistent"))
    }

    func testVarlinkServiceNames() throws {
        try check(
            VarlinkBundledInterfaces.orgVarlinkService, methods: VarlinkServiceMethod.self, errors: VarlinkServiceErrorName.self,
            interfaceName: "org.varlink.service")
        try check(
            VarlinkBundledInterfaces.orgVarlinkCertification, methods: VarlinkCertificationMethod.self,
            errors: VarlinkCertificationErrorName.self, interfaceName: "org.varlink.certification")
        XCTAssertEqual(VarlinkError.methodNotFound("x").name, VarlinkServiceErrorName.methodNotFound.rawValue)
    }
}
