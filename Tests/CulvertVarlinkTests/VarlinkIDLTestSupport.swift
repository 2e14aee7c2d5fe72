// Shared fixtures for the IDL parser and validator tests: the reference interface texts and small helpers.

import Foundation
import XCTest

@testable import CulvertVarlink

// MARK: - Fixtures

/// org.varlink.service as shipped by the python reference implementation (varlink 31, package data).
let referenceServiceText = """
    # The Varlink Service Interface is provided by every varlink service. It
    # describes the service and the interfaces it implements.
    interface org.varlink.service

    # Get a list of all the interfaces a service provides and information
    # about the implementation.
    method GetInfo() -> (
      vendor: string,
      product: string,
      version: string,
      url: string,
      interfaces: []string
    )

    # Get the description of an interface that is implemented by this service.
    method GetInterfaceDescription(interface: string) -> (description: string)

    # The requested interface was not found.
    error InterfaceNotFound (interface: string)

    # The requested method was not found
    error MethodNotFound (method: string)

    # The interface defines the requested method, but the service does not
    # implement it.
    error MethodNotImplemented (method: string)

    # One of the passed parameters is invalid.
    error InvalidParameter (parameter: string)
    """

/// org.varlink.certification as shipped by the python reference implementation (its tests directory).
let referenceCertificationText = """
    # Interface to test varlink implementations against.
    # First you write a varlink client calling:
    # Start, Test01, Test02, …, Test09, End
    # The return value of the previous call should be the argument of the next call.
    # Then you test this client against well known servers like python or rust from
    # https://github.com/varlink/
    #
    # Next you write a varlink server providing the same service as the well known ones.
    # Now run your client against it and run well known clients like python or rust
    # from https://github.com/varlink/ against your server. If all works out, then
    # your new language bindings should be varlink certified.
    interface org.varlink.certification

    type Interface (
      foo: ?[]?[string](foo, bar, baz),
      anon: (foo: bool, bar: bool)
    )

    type MyType (
      object: object,
      enum: (one, two, three),
      struct: (first: int, second: string),
      array: []string,
      dictionary: [string]string,
      stringset: [string](),
      nullable: ?string,
      nullable_array_struct: ?[](first: int, second: string),
      interface: Interface
    )

    method Start() -> (client_id: string)

    method Test01(client_id: string) -> (bool: bool)

    method Test02(client_id: string, bool: bool) -> (int: int)

    method Test03(client_id: string, int: int) -> (float: float)

    method Test04(client_id: string, float: float) -> (string: string)

    method Test05(client_id: string, string: string) -> (
      bool: bool,
      int: int,
      float: float,
      string: string
    )

    method Test06(
      client_id: string,
      bool: bool,
      int: int,
      float: float,
      string: string
    ) -> (
      struct: (
        bool: bool,
        int: int,
        float: float,
        string: string
      )
    )

    method Test07(
      client_id: string,
      struct: (
        bool: bool,
        int: int,
        float: float,
        string: string
      )
    ) -> (map: [string]string)

    method Test08(client_id: string, map: [string]string) -> (set: [string]())

    method Test09(client_id: string, set: [string]()) -> (mytype: MyType)

    # returns more than one reply with "continues"
    method Test10(client_id: string, mytype: MyType) -> (string: string)

    # must be called as "oneway"
    method Test11(client_id: string, last_more_replies: []string) -> ()

    method End(client_id: string) -> (all_ok: bool)

    error ClientIdError ()
    error CertificationError (wants: object, got: object)
    """

/// The definitions this package serves, read from Sources/CulvertVarlink/Interfaces. The test file
/// may be reached through a symlink (the scratch package), so resolve it first.
func bundledInterfaceText(_ file: String) throws -> String {
    let packageRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let url = packageRoot.appendingPathComponent("Sources/CulvertVarlink/Interfaces/\(file)")
    return try String(contentsOf: url, encoding: .utf8)
}

func field(_ name: String, _ type: VarlinkType) -> VarlinkField {
    VarlinkField(name: name, type: type)
}

func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> VarlinkInterface? {
    do throws(VarlinkIDLError) {
        return try VarlinkInterface(parsing: text)
    } catch {
        XCTFail("refused: \(error)", file: file, line: line)
        return nil
    }
}

func json(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> JSONValue {
    do throws(JSONParseError) {
        return try JSONParser.parse(Array(text.utf8))
    } catch {
        XCTFail("bad JSON fixture \(text): \(error)", file: file, line: line)
        return .null
    }
}

// MARK: - Parsing the reference interfaces
