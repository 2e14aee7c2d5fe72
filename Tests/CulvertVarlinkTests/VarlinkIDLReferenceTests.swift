// The reference interfaces (python varlink) parse, and our bundled copies match them.

import Foundation
import XCTest

@testable import CulvertVarlink

final class VarlinkIDLReferenceTests: XCTestCase {
    func testParsesReferenceServiceInterface() throws {
        let interface = try XCTUnwrap(parse(referenceServiceText))
        XCTAssertEqual(interface.name, "org.varlink.service")
        XCTAssertEqual(interface.methodNames, ["GetInfo", "GetInterfaceDescription"])
        XCTAssertEqual(interface.errorNames, ["InterfaceNotFound", "MethodNotFound", "MethodNotImplemented", "InvalidParameter"])
        XCTAssertEqual(interface.typeNames, [])
        XCTAssertEqual(
            interface.methods["GetInfo"],
            VarlinkMethod(
                name: "GetInfo", input: .empty,
                output: VarlinkStruct([
                    field("vendor", .string), field("product", .string), field("version", .string),
                    field("url", .string), field("interfaces", .array(.string)),
                ])))
        XCTAssertEqual(interface.methods["GetInterfaceDescription"]?.input, VarlinkStruct([field("interface", .string)]))
        XCTAssertEqual(interface.methods["GetInterfaceDescription"]?.output, VarlinkStruct([field("description", .string)]))
        XCTAssertEqual(interface.errors["InvalidParameter"], VarlinkStruct([field("parameter", .string)]))
        XCTAssertEqual(
            interface.documentation,
            "The Varlink Service Interface is provided by every varlink service. It\ndescribes the service and the interfaces it implements."
        )
        XCTAssertEqual(
            interface.memberDocumentation["MethodNotImplemented"],
            "The interface defines the requested method, but the service does not\nimplement it.")
    }

    func testParsesReferenceCertificationInterface() throws {
        let interface = try XCTUnwrap(parse(referenceCertificationText))
        XCTAssertEqual(interface.name, "org.varlink.certification")
        XCTAssertEqual(interface.typeNames, ["Interface", "MyType"])
        XCTAssertEqual(
            interface.methodNames,
            ["Start", "Test01", "Test02", "Test03", "Test04", "Test05", "Test06", "Test07", "Test08", "Test09", "Test10", "Test11", "End"])
        XCTAssertEqual(interface.errorNames, ["ClientIdError", "CertificationError"])
        XCTAssertEqual(
            interface.typeAliases["Interface"],
            .struct(
                VarlinkStruct([
                    field("foo", .optional(.array(.optional(.dictionary(.enum(["foo", "bar", "baz"])))))),
                    field("anon", .struct(VarlinkStruct([field("foo", .bool), field("bar", .bool)]))),
                ])))
        let pair = VarlinkType.struct(VarlinkStruct([field("first", .int), field("second", .string)]))
        XCTAssertEqual(
            interface.typeAliases["MyType"],
            .struct(
                VarlinkStruct([
                    field("object", .object),
                    field("enum", .enum(["one", "two", "three"])),
                    field("struct", pair),
                    field("array", .array(.string)),
                    field("dictionary", .dictionary(.string)),
                    field("stringset", .stringSet),
                    field("nullable", .optional(.string)),
                    field("nullable_array_struct", .optional(.array(pair))),
                    field("interface", .named("Interface")),
                ])))
        XCTAssertEqual(interface.methods["Test08"]?.output, VarlinkStruct([field("set", .stringSet)]))
        XCTAssertEqual(interface.methods["Test09"]?.output, VarlinkStruct([field("mytype", .named("MyType"))]))
        XCTAssertEqual(interface.methods["Test11"]?.output, .empty)
        XCTAssertEqual(interface.errors["ClientIdError"], .empty)
        XCTAssertEqual(interface.errors["CertificationError"], VarlinkStruct([field("wants", .object), field("got", .object)]))
        XCTAssertEqual(interface.memberDocumentation["Test10"], "returns more than one reply with \"continues\"")
        XCTAssertNil(interface.memberDocumentation["Test09"])
        XCTAssertEqual(interface.documentation?.hasPrefix("Interface to test varlink implementations against.\n"), true)
        XCTAssertEqual(interface.documentation?.contains("Start, Test01, Test02, …, Test09, End"), true)
    }

    func testBundledServiceInterfaceMatchesReference() throws {
        let reference = try XCTUnwrap(parse(referenceServiceText))
        let bundled = try XCTUnwrap(parse(try bundledInterfaceText("org.varlink.service.varlink")))
        XCTAssertEqual(bundled.name, reference.name)
        XCTAssertEqual(bundled.methods, reference.methods)
        XCTAssertEqual(bundled.methodNames, reference.methodNames)
        XCTAssertEqual(bundled.typeAliases, reference.typeAliases)
        for name in reference.errorNames {
            XCTAssertEqual(bundled.errors[name], reference.errors[name], name)
        }
        // The two errors varlink.org added after the python package froze its copy.
        XCTAssertEqual(bundled.errorNames, reference.errorNames + ["PermissionDenied", "ExpectedMore"])
        XCTAssertEqual(bundled.errors["PermissionDenied"], .empty)
        XCTAssertEqual(bundled.errors["ExpectedMore"], .empty)
        XCTAssertNotNil(bundled.documentation)
        for name in bundled.methodNames + bundled.errorNames {
            XCTAssertNotNil(bundled.memberDocumentation[name], "\(name) is undocumented")
        }
    }

    func testBundledCertificationInterfaceMatchesReference() throws {
        let reference = try XCTUnwrap(parse(referenceCertificationText))
        let bundled = try XCTUnwrap(parse(try bundledInterfaceText("org.varlink.certification.varlink")))
        XCTAssertEqual(bundled.name, reference.name)
        XCTAssertEqual(bundled.typeAliases, reference.typeAliases)
        XCTAssertEqual(bundled.methods, reference.methods)
        XCTAssertEqual(bundled.errors, reference.errors)
        XCTAssertEqual(bundled.typeNames, reference.typeNames)
        XCTAssertEqual(bundled.methodNames, reference.methodNames)
        XCTAssertEqual(bundled.errorNames, reference.errorNames)
    }
}

// MARK: - Accepted syntax
