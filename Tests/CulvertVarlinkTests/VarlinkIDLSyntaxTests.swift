// IDL syntax accepted: types, comments, documentation, leniencies shared with the references.

import Foundation
import XCTest

@testable import CulvertVarlink

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
