// Tests for the varlink interface definition parser and the parameter validator.

import Foundation
import XCTest

@testable import CulvertVarlink

// MARK: - Fixtures

/// org.varlink.service as shipped by the python reference implementation (varlink 31, package data).
private let referenceServiceText = """
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
private let referenceCertificationText = """
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
private func bundledInterfaceText(_ file: String) throws -> String {
    let packageRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let url = packageRoot.appendingPathComponent("Sources/CulvertVarlink/Interfaces/\(file)")
    return try String(contentsOf: url, encoding: .utf8)
}

private func field(_ name: String, _ type: VarlinkType) -> VarlinkField {
    VarlinkField(name: name, type: type)
}

private func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> VarlinkInterface? {
    do throws(VarlinkIDLError) {
        return try VarlinkInterface(parsing: text)
    } catch {
        XCTFail("refused: \(error)", file: file, line: line)
        return nil
    }
}

private func json(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> JSONValue {
    do throws(JSONParseError) {
        return try JSONParser.parse(Array(text.utf8))
    } catch {
        XCTFail("bad JSON fixture \(text): \(error)", file: file, line: line)
        return .null
    }
}

// MARK: - Parsing the reference interfaces

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

final class VarlinkIDLSyntaxTests: XCTestCase {
    func testEveryTypeFormRoundTripsThroughDescription() throws {
        let interface = try XCTUnwrap(
            parse(
                """
                interface org.example.types
                type T (
                  a: ?[]?[string](x, y),
                  b: [string](),
                  c: [string]?(),
                  d: (),
                  e: [][]int,
                  f: ?T,
                  g: (inner: ?(deep: float)),
                  h: object
                )
                """))
        XCTAssertEqual(
            interface.typeAliases["T"]?.description,
            "(a: ?[]?[string](x, y), b: [string](), c: [string]?(), d: (), e: [][]int, f: ?T, g: (inner: ?(deep: float)), h: object)")
        guard case .struct(let fields)? = interface.typeAliases["T"] else { return XCTFail("T is not a struct") }
        XCTAssertEqual(fields.field(named: "b")?.type, .stringSet)
        XCTAssertEqual(fields.field(named: "c")?.type, .dictionary(.optional(.struct(.empty))))
        XCTAssertEqual(fields.field(named: "d")?.type, .struct(.empty))
    }

    func testNamesFollowTheSpecificationGrammar() throws {
        // Uppercase labels and punycode dashes are valid interface names; keywords and uppercase
        // initials are valid field names; a single enum value is an enum.
        let interface = try XCTUnwrap(
            parse(
                """
                interface io.xn--bcher-kva.Manager2
                type Mode (only)
                method Do(type: Mode, method: int, error: bool, interface: string, Upper: int, a_b_c: int) -> ()
                """))
        XCTAssertEqual(interface.name, "io.xn--bcher-kva.Manager2")
        XCTAssertEqual(interface.typeAliases["Mode"], .enum(["only"]))
        XCTAssertEqual(
            interface.methods["Do"]?.input.fields.map(\.name), ["type", "method", "error", "interface", "Upper", "a_b_c"])
    }

    func testForwardReferencesResolve() throws {
        let interface = try XCTUnwrap(
            parse(
                """
                interface org.example.forward
                method Get() -> (node: Node)
                type Node (children: []Node, leaf: ?Leaf)
                type Leaf (value: int)
                """))
        XCTAssertEqual(interface.typeNames, ["Node", "Leaf"])
        XCTAssertEqual(interface.methods["Get"]?.output, VarlinkStruct([field("node", .named("Node"))]))
    }

    func testWhitespaceCommentsAndLineEndingsAreIgnored() throws {
        let text =
            "# doc\r\ninterface org.example.crlf\r\n\r\ntype T ( # trailing\r\n  # inside\r\n  a : int ,\tb:?string\r\n)\r\n"
            + "method A() -> ()  method B ( x : T ) -> ( ) # two members on one line\n" + "error E()"
        let interface = try XCTUnwrap(parse(text))
        XCTAssertEqual(interface.documentation, "doc")
        XCTAssertEqual(interface.typeAliases["T"], .struct(VarlinkStruct([field("a", .int), field("b", .optional(.string))])))
        XCTAssertEqual(interface.methodNames, ["A", "B"])
        XCTAssertEqual(interface.errors["E"], .empty)
    }

    func testDocumentationIsTheCommentBlockDirectlyAboveAMember() throws {
        let interface = try XCTUnwrap(
            parse(
                """
                # License header, separated by a blank line.

                # The interface.
                #   Indented continuation.
                interface org.example.docs

                # Detached comment.

                # Documents A.
                method A() -> () # trailing, documents nothing
                method B() -> ()
                #Unspaced.
                type C (x: int)
                """))
        XCTAssertEqual(interface.documentation, "The interface.\n  Indented continuation.")
        XCTAssertEqual(interface.memberDocumentation["A"], "Documents A.")
        XCTAssertNil(interface.memberDocumentation["B"])
        XCTAssertEqual(interface.memberDocumentation["C"], "Unspaced.")
    }

    func testNestingUpToTheLimitIsAccepted() throws {
        // The member's own parenthesis is level 1, so 31 prefixes reach the limit exactly.
        let depth = VarlinkInterface.maximumNestingDepth - 1
        let text = "interface org.example.deep\ntype T (a: " + String(repeating: "[]", count: depth) + "int)"
        let interface = try XCTUnwrap(parse(text))
        var type = try XCTUnwrap(interface.typeAliases["T"])
        guard case .struct(let fields) = type else { return XCTFail("not a struct") }
        type = try XCTUnwrap(fields.fields.first?.type)
        var levels = 0
        while case .array(let element) = type {
            levels += 1
            type = element
        }
        XCTAssertEqual(levels, depth)
        XCTAssertEqual(type, .int)
    }
}

// MARK: - Refused syntax

final class VarlinkIDLRefusalTests: XCTestCase {
    private static let header = "interface org.example.bad\n"

    /// Each text must be refused with exactly this reason.
    private static let cases: [(text: String, reason: VarlinkIDLError.Reason)] = [
        ("", .unexpectedEnd),
        ("# only a comment\n", .unexpectedEnd),
        ("interface", .unexpectedEnd),
        ("method Foo() -> ()", .missingInterfaceKeyword),
        ("Interface org.example.bad", .missingInterfaceKeyword),
        ("interface org", .invalidInterfaceName),
        ("interface org..example", .invalidInterfaceName),
        ("interface org.-example", .invalidInterfaceName),
        ("interface org.example-", .invalidInterfaceName),
        ("interface 1org.example", .invalidInterfaceName),
        ("interface org.ex_ample", .invalidInterfaceName),
        ("interface org.example.", .invalidInterfaceName),
        ("interface (", .invalidInterfaceName),
        (header + "method foo() -> ()", .invalidMethodName),
        (header + "method Foo_Bar() -> ()", .invalidMethodName),
        (header + "type foo (a: int)", .invalidTypeName),
        (header + "type T (a: Foo.Bar)", .invalidTypeName),
        (header + "error bad ()", .invalidErrorName),
        (header + "error 9Lives ()", .invalidErrorName),
        (header + "type T (a_: int)", .invalidFieldName),
        (header + "type T (_a: int)", .invalidFieldName),
        (header + "type T (a__b: int)", .invalidFieldName),
        (header + "type T (1a: int)", .invalidFieldName),
        (header + "type T (a: int,)", .invalidFieldName),
        (header + "type T (,)", .invalidFieldName),
        (header + "type T (a: int, a: string)", .duplicateField),
        (header + "type T (a, b, a)", .duplicateField),
        (header + "type T (a: int)\ntype T (b: int)", .duplicateMember),
        (header + "type T (a: int)\nmethod T() -> ()", .duplicateMember),
        (header + "method F() -> ()\nerror F ()", .duplicateMember),
        (header + "method F(a: Missing) -> ()", .undefinedType),
        (header + "method F() -> ()\nmethod G(a: F) -> ()", .undefinedType),
        (header + "error E ()\ntype T (e: ?[]E)", .undefinedType),
        (header + "method F(a: ??int) -> ()", .doubleOptional),
        (header + "method F(a: ? ?int) -> ()", .doubleOptional),
        (header + "method F(a: []??int) -> ()", .doubleOptional),
        (header + "type T (a: (b: int)", .unbalancedParentheses),
        (header + "type T (a: int", .unbalancedParentheses),
        (header + "type T (a: ", .unbalancedParentheses),
        (header + "type T (a", .unbalancedParentheses),
        (header + "method F() -> ())", .unbalancedParentheses),
        (header + "method F() -> () garbage", .trailingGarbage),
        ("interface org.example.bad garbage", .trailingGarbage),
        (header + "method F() -> (): int", .trailingGarbage),
        (header + "method F() -> ()\n}", .invalidCharacter),
        (header + "type T (a: int) é", .invalidCharacter),
        (header + "type T (a: int, b)", .mixedStructAndEnum),
        (header + "type T (a, b: int)", .mixedStructAndEnum),
        (header + "type T string", .expectedStruct),
        (header + "type T []string", .expectedStruct),
        (header + "method F(a, b) -> ()", .expectedStruct),
        (header + "method F() -> (ok)", .expectedStruct),
        (header + "error E (a, b)", .expectedStruct),
        (header + "method F -> ()", .expectedStruct),
        (header + "method F() ()", .expectedArrow),
        (header + "method F() - > ()", .invalidCharacter),
        (header + "method F() -> ", .unexpectedEnd),
        (header + "type", .unexpectedEnd),
        (header + "type T", .unexpectedEnd),
        (header + "type T (a: strin)", .expectedType),
        (header + "type T (a: [int]string)", .expectedType),
        (header + "type T (a: )", .expectedType),
        (header + "type T (a: ,b: int)", .expectedType),
        (header + "type T (a int)", .expectedCommaOrParenthesis),
        (header + "type T (a: int b: int)", .expectedCommaOrParenthesis),
        (header + "type T (a: " + String(repeating: "[]", count: 40) + "int)", .nestingTooDeep),
        (header + "type T " + String(repeating: "(a: ", count: 40) + "int" + String(repeating: ")", count: 40), .nestingTooDeep),
        (header + "type T (a: " + String(repeating: "?[]", count: 20) + "int)", .nestingTooDeep),
    ]

    func testRefusalTable() {
        XCTAssertGreaterThanOrEqual(Self.cases.count, 30)
        for (text, expected) in Self.cases {
            do throws(VarlinkIDLError) {
                let interface = try VarlinkInterface(parsing: text)
                XCTFail("accepted \(text.debugDescription) as \(interface.name)")
            } catch {
                XCTAssertEqual(error.reason, expected, "\(text.debugDescription): \(error)")
                XCTAssertFalse(error.detail.isEmpty)
                XCTAssertGreaterThanOrEqual(error.line, 1)
                XCTAssertGreaterThanOrEqual(error.column, 1)
            }
        }
    }

    func testEveryReasonIsExercised() {
        let covered = Set(Self.cases.map(\.reason)).union([.inputTooLong])
        XCTAssertEqual(covered, Set(VarlinkIDLError.Reason.allCases))
    }

    private func refusal(_ text: String) -> VarlinkIDLError? {
        do throws(VarlinkIDLError) {
            _ = try VarlinkInterface(parsing: text)
            return nil
        } catch {
            return error
        }
    }

    func testErrorsPointAtTheOffendingToken() throws {
        let undefined = try XCTUnwrap(refusal("interface org.example.bad\n\nmethod F(\n  a: int,\n  b: Nope\n) -> ()"))
        XCTAssertEqual(undefined.reason, .undefinedType)
        XCTAssertEqual(undefined.line, 5)
        XCTAssertEqual(undefined.column, 6)

        let duplicate = try XCTUnwrap(refusal("interface org.example.bad\ntype A (x: int)\n  error A ()"))
        XCTAssertEqual(duplicate.reason, .duplicateMember)
        XCTAssertEqual(duplicate.line, 3)
        XCTAssertEqual(duplicate.column, 9)

        // Columns count Unicode scalars, not bytes.
        let character = try XCTUnwrap(refusal("interface org.example.bad # é\ntype T (a: int) é"))
        XCTAssertEqual(character.reason, .invalidCharacter)
        XCTAssertEqual(character.line, 2)
        XCTAssertEqual(character.column, 17)

        let unclosed = try XCTUnwrap(refusal("interface org.example.bad\ntype T (\n a: (b: int)\n"))
        XCTAssertEqual(unclosed.reason, .unbalancedParentheses)
        XCTAssertEqual(unclosed.line, 2)
        XCTAssertEqual(unclosed.column, 8)
        XCTAssertTrue(unclosed.description.contains("2:8"), unclosed.description)
        XCTAssertTrue(unclosed.description.contains("unbalanced_parentheses"), unclosed.description)
    }

    func testOversizedInputIsRefusedBeforeParsing() throws {
        let comment = "# " + String(repeating: "x", count: VarlinkInterface.maximumDefinitionLength) + "\n"
        let error = try XCTUnwrap(refusal(comment + "interface org.example.big\n"))
        XCTAssertEqual(error.reason, .inputTooLong)
        XCTAssertEqual(error.line, 1)

        // Just under the limit is fine: the cap is on bytes, not on what the text contains.
        let filler = String(repeating: "x", count: VarlinkInterface.maximumDefinitionLength - 64)
        XCTAssertNotNil(parse("# \(filler)\ninterface org.example.big\n"))
    }

    func testHostileNestingFailsWithoutExhaustingTheStack() throws {
        for opener in ["(a: ", "[]", "?[]", "[string]", "[string]?", "(x: []"] {
            let text = "interface org.example.bad\ntype T (a: " + String(repeating: opener, count: 100_000)
            let error = try XCTUnwrap(refusal(text), opener)
            XCTAssertEqual(error.reason, .nestingTooDeep, opener)
        }
        let questions = try XCTUnwrap(refusal("interface org.example.bad\ntype T (a: " + String(repeating: "?", count: 100_000)))
        XCTAssertEqual(questions.reason, .doubleOptional)
    }

    func testMutatedDefinitionsNeverCrash() {
        // Deterministic byte-level mutations of a real interface; each must parse or be refused.
        var generator = SplitMix64(seed: 0x5EED)
        let base = Array(referenceCertificationText.utf8)
        let alphabet = Array("()[]?:,->#\n abcAZ_.-string".utf8) + [0xC3, 0xA9, 0x00, 0xFF]
        var accepted = 0
        for _ in 0..<3_000 {
            var bytes = base
            for _ in 0..<Int(generator.next() % 4 + 1) {
                let position = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 3 {
                case 0: bytes.remove(at: position)
                case 1: bytes.insert(alphabet[Int(generator.next() % UInt64(alphabet.count))], at: position)
                default: bytes[position] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                }
            }
            do throws(VarlinkIDLError) {
                _ = try VarlinkInterface(parsing: String(decoding: bytes, as: UTF8.self))
                accepted += 1
            } catch {
                XCTAssertGreaterThanOrEqual(error.line, 1)
            }
        }
        // Mutations inside comments keep the text valid, so some must pass; most must not.
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertLessThan(accepted, 3_000)
    }
}

/// Small deterministic generator for the mutation test.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Validation

private let validationText = """
    interface org.example.validate

    type Options (key: string, level: ?int)
    type Color (red, green, blue)

    method Everything(
      flag: bool,
      count: int,
      ratio: float,
      name: string,
      blob: object,
      mode: (fast, slow),
      options: Options,
      color: ?Color,
      list: []int,
      map: [string]float,
      tags: [string](),
      note: ?string,
      points: ?[](x: int, y: int),
      nested: ?(inner: (deep: bool))
    ) -> (ok: bool, items: []?string)

    method Empty() -> ()

    method Optionals(a: ?int, b: ?[]string, c: ?[string]bool) -> ()

    error Failed (why: string)
    """

/// A valid call to Everything; cases below change one field of it.
private let everythingBase = """
    {"flag": true, "count": 3, "ratio": 0.5, "name": "n", "blob": {}, "mode": "fast",
     "options": {"key": "k"}, "list": [1, 2], "map": {"a": 1.5}, "tags": {"x": {}}}
    """

final class VarlinkValidatorTests: XCTestCase {
    private struct Case {
        var method: String
        var parameters: JSONValue
        /// nil: must be accepted. Otherwise the expected parameter, path and reason.
        var refusal: (parameter: String, path: String, reason: VarlinkValidationError.Reason)?
        var line: UInt
    }

    private func everything(
        _ changes: String, removing removed: [String] = [], line: UInt = #line
    ) -> JSONValue {
        guard case .object(var members) = json(everythingBase, line: line),
            case .object(let overrides) = json(changes, line: line)
        else { return .null }
        for (key, value) in overrides { members[key] = value }
        for key in removed { members[key] = nil }
        return .object(members)
    }

    private func accept(_ parameters: JSONValue, _ method: String = "Everything", line: UInt = #line) -> Case {
        Case(method: method, parameters: parameters, refusal: nil, line: line)
    }

    private func refuse(
        _ parameters: JSONValue, _ parameter: String, _ path: String, _ reason: VarlinkValidationError.Reason,
        _ method: String = "Everything", line: UInt = #line
    ) -> Case {
        Case(method: method, parameters: parameters, refusal: (parameter, path, reason), line: line)
    }

    private var cases: [Case] {
        [
            // Accepted: every type in its valid forms.
            accept(everything("{}")),
            accept(everything(#"{"color": null, "note": null, "points": null, "nested": null}"#)),
            accept(everything(#"{"color": "green", "note": "text"}"#)),
            accept(everything(#"{"ratio": 3}"#)),
            accept(everything(#"{"ratio": -2.5e10}"#)),
            accept(everything(#"{"count": -9223372036854775808}"#)),
            accept(everything(#"{"flag": false}"#)),
            accept(everything(#"{"points": []}"#)),
            accept(everything(#"{"points": [{"x": 1, "y": 2}, {"x": -1, "y": 0}]}"#)),
            accept(everything(#"{"nested": {"inner": {"deep": true}}}"#)),
            accept(everything(#"{"map": {}, "tags": {}, "list": []}"#)),
            accept(everything(#"{"tags": {"a": {}, "b": {}}}"#)),
            accept(everything(#"{"blob": {"anything": [1, "x", null, {"y": true}]}}"#)),
            accept(everything(#"{"options": {"key": "k", "level": null}}"#)),
            accept(everything(#"{"options": {"key": "", "level": 7}, "mode": "slow"}"#)),
            accept(json("{}"), "Empty"),
            accept(.null, "Empty"),
            accept(json("{}"), "Optionals"),
            accept(json(#"{"a": 1, "b": ["x"], "c": {"k": true}}"#), "Optionals"),
            accept(json(#"{"a": null, "b": [], "c": {}}"#), "Optionals"),

            // Refused: missing, null and unknown fields.
            refuse(everything("{}", removing: ["flag"]), "flag", "flag", .missingField),
            refuse(everything(#"{"flag": null}"#), "flag", "flag", .nullValue),
            refuse(everything(#"{"flga": true}"#, removing: ["flag"]), "flag", "flag", .missingField),
            refuse(everything(#"{"extra": 1}"#), "extra", "extra", .unknownField),
            refuse(json(#"{"a": 1}"#), "a", "a", .unknownField, "Empty"),
            refuse(json("[]"), "parameters", "parameters", .notAnObject),
            refuse(json(#""text""#), "parameters", "parameters", .notAnObject, "Empty"),
            // bool
            refuse(everything(#"{"flag": "true"}"#), "flag", "flag", .typeMismatch),
            refuse(everything(#"{"flag": 1}"#), "flag", "flag", .typeMismatch),
            // int: JSON integers only
            refuse(everything(#"{"count": 1.5}"#), "count", "count", .typeMismatch),
            refuse(everything(#"{"count": 1.0}"#), "count", "count", .typeMismatch),
            refuse(everything(#"{"count": "1"}"#), "count", "count", .typeMismatch),
            refuse(everything(#"{"count": true}"#), "count", "count", .typeMismatch),
            // float
            refuse(everything(#"{"ratio": "1.0"}"#), "ratio", "ratio", .typeMismatch),
            refuse(everything(#"{"ratio": false}"#), "ratio", "ratio", .typeMismatch),
            // string
            refuse(everything(#"{"name": 5}"#), "name", "name", .typeMismatch),
            refuse(everything(#"{"name": ["n"]}"#), "name", "name", .typeMismatch),
            // object
            refuse(everything(#"{"blob": []}"#), "blob", "blob", .typeMismatch),
            refuse(everything(#"{"blob": "x"}"#), "blob", "blob", .typeMismatch),
            // enum, anonymous and named
            refuse(everything(#"{"mode": "medium"}"#), "mode", "mode", .invalidEnumValue),
            refuse(everything(#"{"mode": "FAST"}"#), "mode", "mode", .invalidEnumValue),
            refuse(everything(#"{"mode": 1}"#), "mode", "mode", .typeMismatch),
            refuse(everything(#"{"color": "purple"}"#), "color", "color", .invalidEnumValue),
            // named struct
            refuse(everything(#"{"options": {}}"#), "options", "options.key", .missingField),
            refuse(everything(#"{"options": {"key": "k", "level": "x"}}"#), "options", "options.level", .typeMismatch),
            refuse(everything(#"{"options": {"key": "k", "bogus": 1}}"#), "options", "options.bogus", .unknownField),
            refuse(everything(#"{"options": "k"}"#), "options", "options", .notAnObject),
            refuse(everything(#"{"options": null}"#), "options", "options", .nullValue),
            // array
            refuse(everything(#"{"list": [1, 2, "3"]}"#), "list", "list[2]", .typeMismatch),
            refuse(everything(#"{"list": [1, null]}"#), "list", "list[1]", .nullValue),
            refuse(everything(#"{"list": {"0": 1}}"#), "list", "list", .typeMismatch),
            // dictionary
            refuse(everything(#"{"map": {"a": 1, "b": "x"}}"#), "map", #"map["b"]"#, .typeMismatch),
            refuse(everything(#"{"map": [1.5]}"#), "map", "map", .typeMismatch),
            // string set
            refuse(everything(#"{"tags": {"a": {}, "b": true}}"#), "tags", #"tags["b"]"#, .invalidSetValue),
            refuse(everything(#"{"tags": {"a": {"x": 1}}}"#), "tags", #"tags["a"]"#, .invalidSetValue),
            refuse(everything(#"{"tags": {"a": null}}"#), "tags", #"tags["a"]"#, .invalidSetValue),
            refuse(everything(#"{"tags": ["a"]}"#), "tags", "tags", .typeMismatch),
            // nested anonymous structs
            refuse(everything(#"{"points": [{"x": 1, "y": 2}, {"x": 1}]}"#), "points", "points[1].y", .missingField),
            refuse(everything(#"{"points": "x"}"#), "points", "points", .typeMismatch),
            refuse(everything(#"{"nested": {"inner": {"deep": 1}}}"#), "nested", "nested.inner.deep", .typeMismatch),
            refuse(everything(#"{"nested": {"inner": {"deep": true, "deeper": 1}}}"#), "nested", "nested.inner.deeper", .unknownField),
            // optionals inside containers
            refuse(json(#"{"b": [null]}"#), "b", "b[0]", .nullValue, "Optionals"),
            refuse(json(#"{"c": {"k": null}}"#), "c", #"c["k"]"#, .nullValue, "Optionals"),
            refuse(json(#"{"a": 1.5}"#), "a", "a", .typeMismatch, "Optionals"),
        ]
    }

    func testValidationTable() throws {
        let interface = try XCTUnwrap(parse(validationText))
        let cases = self.cases
        XCTAssertGreaterThanOrEqual(cases.count, 40)
        for item in cases {
            do throws(VarlinkValidationError) {
                try interface.validate(parameters: item.parameters, of: item.method)
                if let refusal = item.refusal {
                    XCTFail("accepted, expected \(refusal.reason) at \(refusal.path)", line: item.line)
                }
            } catch {
                guard let refusal = item.refusal else {
                    XCTFail("refused: \(error)", line: item.line)
                    continue
                }
                XCTAssertEqual(error.parameter, refusal.parameter, "\(error)", line: item.line)
                XCTAssertEqual(error.path, refusal.path, "\(error)", line: item.line)
                XCTAssertEqual(error.reason, refusal.reason, "\(error)", line: item.line)
            }
        }
    }

    private func validationError(_ body: () throws(VarlinkValidationError) -> Void) -> VarlinkValidationError? {
        do throws(VarlinkValidationError) {
            try body()
            return nil
        } catch {
            return error
        }
    }

    func testRepliesAndErrorsAreValidatedWithTheSameRules() throws {
        let interface = try XCTUnwrap(parse(validationText))
        XCTAssertNil(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(reply: json(#"{"ok": true, "items": ["a", null]}"#), of: "Everything")
            })
        XCTAssertNil(validationError { () throws(VarlinkValidationError) in try interface.validate(reply: .null, of: "Empty") })

        let missing = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(reply: json(#"{"ok": true}"#), of: "Everything")
            })
        XCTAssertEqual(missing.parameter, "items")
        XCTAssertEqual(missing.reason, .missingField)

        let element = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(reply: json(#"{"ok": true, "items": [1]}"#), of: "Everything")
            })
        XCTAssertEqual(element.path, "items[0]")
        XCTAssertEqual(element.reason, .typeMismatch)

        // Input fields are not output fields.
        let input = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(reply: json(#"{"ok": true, "items": [], "flag": true}"#), of: "Everything")
            })
        XCTAssertEqual(input.parameter, "flag")
        XCTAssertEqual(input.reason, .unknownField)

        XCTAssertNil(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(errorParameters: json(#"{"why": "w"}"#), of: "Failed")
            })
        let why = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(errorParameters: json("{}"), of: "Failed")
            })
        XCTAssertEqual(why.parameter, "why")
        XCTAssertEqual(why.reason, .missingField)
    }

    func testUnknownMembersAreReportedSeparately() throws {
        let interface = try XCTUnwrap(parse(validationText))
        let errors = [
            validationError { () throws(VarlinkValidationError) in try interface.validate(parameters: .null, of: "Nope") },
            validationError { () throws(VarlinkValidationError) in try interface.validate(reply: .null, of: "Options") },
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(errorParameters: .null, of: "Everything")
            },
        ]
        for error in errors {
            XCTAssertEqual(error?.reason, .unknownMember)
            XCTAssertEqual(error?.parameter, "")
        }
    }

    func testValueHelperReportsPathsRelativeToTheValue() throws {
        let interface = try XCTUnwrap(parse(validationText))
        XCTAssertNil(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(json(#"{"key": "k"}"#), against: .named("Options"))
            })
        let root = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(json("[1]"), against: .named("Options"))
            })
        XCTAssertEqual(root.parameter, "")
        XCTAssertEqual(root.path, "")
        XCTAssertEqual(root.reason, .notAnObject)

        let element = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(json(#"[{"key": "k"}, {"key": 1}]"#), against: .array(.named("Options")))
            })
        XCTAssertEqual(element.parameter, "")
        XCTAssertEqual(element.path, "[1].key")

        let key = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(json(#"{"a\"b": "red", "c": "mauve"}"#), against: .dictionary(.named("Color")))
            })
        XCTAssertEqual(key.path, #"["c"]"#)
        XCTAssertEqual(key.reason, .invalidEnumValue)

        let quoted = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(json(#"{"a\"b": 1}"#), against: .dictionary(.string))
            })
        XCTAssertEqual(quoted.path, #"["a\"b"]"#)
        XCTAssertTrue(quoted.description.contains("expected string, found int"), quoted.description)
    }

    func testCertificationMyTypeValidates() throws {
        let interface = try XCTUnwrap(parse(referenceCertificationText))
        // The value python's certification server sends from Test09, as JSON on the wire.
        let mytype = """
            {"object": {"method": "org.varlink.certification.Test09", "parameters": {"map": {"foo": "Foo", "bar": "Bar"}}},
             "enum": "two", "struct": {"first": 1, "second": "2"}, "array": ["one", "two", "three"],
             "dictionary": {"foo": "Foo", "bar": "Bar"}, "stringset": {"one": {}, "two": {}, "three": {}},
             "nullable": null, "nullable_array_struct": null,
             "interface": {"foo": [null, {"foo": "foo", "bar": "bar"}, null, {"one": "foo", "two": "bar"}],
                           "anon": {"foo": true, "bar": false}}}
            """
        XCTAssertNil(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(reply: json(#"{"mytype": \#(mytype)}"#), of: "Test09")
            })
        XCTAssertNil(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(parameters: json(#"{"client_id": "c", "mytype": \#(mytype)}"#), of: "Test10")
            })
        let badEnum = mytype.replacingOccurrences(of: #"{"one": "foo", "two": "bar"}"#, with: #"{"one": "foo", "two": "qux"}"#)
        let error = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(parameters: json(#"{"client_id": "c", "mytype": \#(badEnum)}"#), of: "Test10")
            })
        XCTAssertEqual(error.parameter, "mytype")
        XCTAssertEqual(error.path, #"mytype.interface.foo[3]["two"]"#)
        XCTAssertEqual(error.reason, .invalidEnumValue)
    }

    func testSelfReferentialTypesStopAtTheDepthCap() throws {
        // Unreachable through the parser (a type must be a struct or enum), but constructible in code.
        let interface = VarlinkInterface(
            name: "org.example.loop", documentation: nil, typeAliases: ["Loop": .named("Loop")], methods: [:], errors: [:],
            typeNames: ["Loop"], methodNames: [], errorNames: [], memberDocumentation: [:])
        let error = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(.string("x"), against: .named("Loop"))
            })
        XCTAssertEqual(error.reason, .tooDeep)

        let undefined = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(.string("x"), against: .named("Missing"))
            })
        XCTAssertEqual(undefined.reason, .undefinedType)
    }

    func testRecursiveTypesValidateDeepButBoundedValues() throws {
        let interface = try XCTUnwrap(parse("interface org.example.tree\ntype Node (next: ?Node)\nmethod Walk(node: Node) -> ()"))
        // Nesting the JSON parser accepts is always within the validator's cap.
        var text = "null"
        for _ in 0..<(JSONParser.defaultMaximumDepth - 2) { text = #"{"next": \#(text)}"# }
        XCTAssertNil(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(parameters: json(#"{"node": \#(text)}"#), of: "Walk")
            })
        var broken = #"{"next": 1}"#
        for _ in 0..<3 { broken = #"{"next": \#(broken)}"# }
        let error = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(parameters: json(#"{"node": \#(broken)}"#), of: "Walk")
            })
        XCTAssertEqual(error.path, "node.next.next.next.next")
        XCTAssertEqual(error.reason, .notAnObject)
    }
}
